"""The HTTP server's parts: the integration API, health, metrics and the webhook inbox."""
