"""The domain: every rule lives here once, called by handlers, the CLI and the HTTP API alike."""
