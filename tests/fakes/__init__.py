"""Local HTTP servers that speak real provider wire formats, with failure injection."""
