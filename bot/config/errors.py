"""The error every misconfiguration becomes: one line an operator can act on."""

# Said whenever there is no token: everything can be tried first without one.
SANDBOX_HINT = (
    "No token yet? Try everything locally first: `python -m bot sandbox` starts an emulated "
    "Telegram with a web chat for customers, an agent and an admin."
)


class SettingsError(Exception):
    """A setting an operator has to fix; the message is one line naming the variable."""
