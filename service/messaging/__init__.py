"""Messaging: durable outbox, dispatcher, SMS/WhatsApp providers, provider webhooks."""
