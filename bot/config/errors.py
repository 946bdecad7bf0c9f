"""The error every misconfiguration becomes: one line an operator can act on."""

import os
import shlex
import sys

TRY_IT_FIRST = (
    "No token yet? Try everything locally first (an emulated Telegram with a web chat for "
    "customers, an agent and an admin)"
)
FRESH_CLONE = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python -m bot sandbox"
)
TOKEN_IN_ENV = "echo 'BOT_TOKEN=123456:ABC…' >> .env"


def sandbox_hint() -> str:
    """Said whenever there is no token: the commands that work, copied as they are. A bare
    `python -m bot sandbox` is not one: `python` is rarely the interpreter the bot is
    installed for. Run from a venv, that interpreter is named; otherwise (the system's
    Python) the commands that work from a fresh clone."""
    if sys.prefix != sys.base_prefix:
        python, here = shlex.quote(sys.executable), shlex.quote(os.getcwd())
        return (
            f"{TRY_IT_FIRST}:\n  {python} -m bot sandbox\n"
            f"With a token: {TOKEN_IN_ENV} (in {here}, where the bot reads .env), "
            f"then {python} -m bot"
        )
    return (
        f"{TRY_IT_FIRST}; from a fresh clone:\n  {FRESH_CLONE}\n"
        f"With a token: {TOKEN_IN_ENV} (in the clone, where the bot reads .env), "
        "then .venv/bin/python -m bot"
    )


class SettingsError(Exception):
    """A setting an operator has to fix; the message is one line naming the variable."""
