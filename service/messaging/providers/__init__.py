"""SMS and WhatsApp providers behind one interface (base.Provider)."""

from __future__ import annotations

import httpx

from service.messaging.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from service.messaging.providers.console import ConsoleProvider
from service.messaging.providers.meta_whatsapp import MetaWhatsAppProvider
from service.messaging.providers.twilio import TwilioProvider
from service.settings import AlertSettings

__all__ = [
    "ConsoleProvider",
    "MetaWhatsAppProvider",
    "OutboundMessage",
    "Provider",
    "ProviderError",
    "SendResult",
    "TwilioProvider",
    "build_providers",
    "provider_for_channel",
]


def twilio_status_callback(settings: AlertSettings) -> str | None:
    base = settings.twilio_public_base_url
    return f"{base.rstrip('/')}/webhooks/twilio/status" if base else None


def build_providers(settings: AlertSettings, client: httpx.Client) -> dict[str, Provider]:
    """One instance of each provider the settings name, keyed by provider name."""
    providers: dict[str, Provider] = {}
    names = {settings.sms_provider, settings.whatsapp_provider}
    if "console" in names:
        providers["console"] = ConsoleProvider()
    if "twilio" in names:
        providers["twilio"] = TwilioProvider(
            client=client,
            base_url=settings.twilio_base_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sms_from=settings.twilio_sms_from,
            whatsapp_from=settings.twilio_whatsapp_from,
            status_callback_url=twilio_status_callback(settings),
        )
    if "meta" in names:
        providers["meta"] = MetaWhatsAppProvider(
            client=client,
            base_url=settings.meta_base_url,
            api_version=settings.meta_api_version,
            phone_number_id=settings.meta_phone_number_id,
            access_token=settings.meta_access_token,
        )
    return providers


def provider_for_channel(settings: AlertSettings, channel: str) -> str:
    return settings.whatsapp_provider if channel == "whatsapp" else settings.sms_provider
