"""`python -m bot [COMMAND]`: runs the bot (the default) or serves operators.

The commands call the same services as the handlers, so a rule has one home. Each command
lives in a module of its own, listed in the command table below and imported only when that
command runs: `customer show` reads the database without paying for aiogram or the FAQ
model (only `run`, `sandbox` and erasure, which speak to Telegram, import aiogram).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from types import FrameType, ModuleType
from typing import Any

from bot.config import Settings, SettingsError, load_settings
from bot.logs import masking as log_masking
from bot.logs import setup as logs
from storage.migrations import SchemaRefused, begin_migrations

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_CONFIGURATION = 2

# The command table: command -> the module that defines its arguments (`register`) and runs
# it (`run`); a few subcommands run from a module of their own.
COMMANDS: dict[str, str] = {
    "run": "bot.cli.run",
    "migrate": "bot.cli.migrate",
    "customer": "bot.cli.customers",
    "faq": "bot.cli.faq",
    "audit": "bot.cli.audit",
    "api-token": "bot.cli.loyalty",
    "points": "bot.cli.loyalty",
    "stats": "bot.cli.stats",
    "export": "bot.cli.stats",
    "cohorts": "bot.cli.stats",
    "jobs": "bot.cli.jobs",
    "broadcast": "bot.cli.broadcasts",
    "tag": "bot.cli.broadcasts",
    "backup": "bot.cli.backup",
    "sandbox": "bot.cli.sandbox",
}
SUBCOMMANDS: dict[tuple[str, str], str] = {
    # Erasure withdraws reviews from the channel: Telegram, so aiogram, only for these.
    ("customer", "export"): "bot.cli.privacy",
    ("customer", "forget"): "bot.cli.privacy",
    # Needs PyTorch (optional): nothing else imports it.
    ("faq", "tune"): "bot.cli.faq_tune",
}
DEFAULT_COMMAND = "run"
# Commands that speak to Telegram with the bot's own token: without one they stop at once.
TOKEN_COMMANDS = frozenset({"run"})

Runner = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` alone (its module only is imported), or of every command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module in wanted:
        _module(module).register(commands)
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _runner(arguments: argparse.Namespace) -> Runner:
    command = arguments.command or DEFAULT_COMMAND
    subcommand = getattr(arguments, f"{command}_command", None)
    name = SUBCOMMANDS.get((command, subcommand or ""), COMMANDS[command])
    runner: Runner = _module(name).run
    return runner


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run a command. `settings` given: the caller owns them and the logging (in-process use,
    e.g. the tests); otherwise they come from the environment and logging is set up here."""
    argv = list(sys.argv[1:] if argv is None else argv)
    loading = _SigtermWhileLoading() if settings is None else None
    named = next((word for word in argv if not word.startswith("-")), None)
    if named is None and not {"-h", "--help"} & set(argv):
        named = DEFAULT_COMMAND
    try:
        if settings is None and not {"-h", "--help"} & set(argv):
            # Settings first: a misconfigured start is told in a fraction of a second, before
            # the command's module imports aiogram and the FAQ model's libraries (seconds).
            settings = load_settings()
            configure_logging(settings.logging.level, settings.logging.format)
            if named in TOKEN_COMMANDS:
                settings.require_token()
            if named == DEFAULT_COMMAND:
                # A new database's schema is built in a child process meanwhile (start-up).
                begin_migrations(settings.database.url)
        arguments = build_parser(named).parse_args(argv)
        if settings is None:
            settings = load_settings()
            configure_logging(settings.logging.level, settings.logging.format)
        runner = _runner(arguments)
        if loading is not None:
            loading.done()
        return asyncio.run(runner(settings, arguments))
    except (SettingsError, SchemaRefused) as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIGURATION


class _SigtermWhileLoading:
    """A command takes seconds to import (aiogram, the FAQ model's libraries) before it can
    handle SIGTERM itself; a SIGTERM then (docker stop, a supervisor, the sandbox's tests)
    has nothing to stop yet, so the process ends at once with 0 instead of dying of it.
    Once the command runs, SIGTERM does what it did before: the default (the process dies),
    unless the command installed its own handling (the bot, the sandbox).

    It ends with os._exit, not SystemExit: the handler runs wherever the main thread is, and
    there a finaliser (__del__, a weakref callback, run by the garbage collector during an
    import) swallows an exception, so the command went on loading and served on regardless
    (seen once in CI: a sandbox stopped while importing was still running 30 s later).
    Nothing is open yet that needs closing; a migration child already begun finishes alone."""

    def __init__(self) -> None:
        self.loading = True
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def done(self) -> None:
        self.loading = False

    def _on_sigterm(self, signum: int, _frame: FrameType | None) -> None:
        if self.loading:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_OK)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


PAYLOAD_LOGGERS = ("aiosqlite", "asyncpg", "psycopg", "aiohttp.client", "aiogram.session")


def configure_logging(level: str, log_format: str = "text") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # At DEBUG these print every statement with its parameters (customers' messages, phone
    # numbers, names) or whole request payloads: LOG_LEVEL=DEBUG is for our own code.
    for talkative in PAYLOAD_LOGGERS:
        logging.getLogger(talkative).setLevel(max(logging.INFO, logging.getLogger().level))
    log_masking.install()
    logs.install(log_format)
