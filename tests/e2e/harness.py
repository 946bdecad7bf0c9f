"""Runs the real bot, `python -m bot`, as a subprocess against the Bot API emulator."""

from __future__ import annotations

import asyncio
import codecs
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Awaitable, Callable
from contextlib import chdir, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from bot.cli import EXIT_CONFIGURATION
from bot.cli import main as cli_main
from bot.config import SettingsError, load_settings
from bot.emulator import BotAPIEmulator
from bot.emulator.state import EmulatedChat
from bot.sandbox.setup import free_port
from bot.services.faq.content import read_file
from bot.services.faq.matcher import default_embedder
from bot.services.faq.model_cache import (
    APPLICATION_DIRECTORY,
    CACHE_FILE_NAME,
    CACHE_FILE_NAMES,
)
from bot.services.faq.service import SAMPLE_FAQ
from storage.repositories.faq import text_hash
from tests.databases import (
    filled_template,
    fresh_database_url,
    migrated_database_url,
    query,
    value,
)

TOKEN = "123456789:AAH-test-token-000000000000000000000"
ROOT = Path(__file__).resolve().parents[2]
# What the bot logs once its FAQ (model included) has come in from the background.
FAQ_WARMED_UP = "(warmed up)"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class BotProcess:
    # Every process a test creates, so that tests/e2e/conftest.py can kill what a failed
    # assertion left running.
    created: list[BotProcess] = []

    def __init__(
        self,
        emulator: BotAPIEmulator,
        workdir: Path,
        *,
        admin_ids: tuple[int, ...] = (),
        env: dict[str, str] | None = None,
        faq_model_cache: bool = True,
        migrated: bool = True,
    ) -> None:
        """faq_model_cache: start with the FAQ model's graph already built and cached, as every
        start after a bot's first finds it (False: the first start builds it, as in production).
        migrated: a database with every migration applied (a copy of one migrated once per test
        process), as every start after a bot's first finds it; False: an empty one, which the
        first start migrates in a child process (~0.6 s), as in production."""
        self.emulator = emulator
        self.faq_model_cache = faq_model_cache
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        BotProcess.created.append(self)
        # The SQLite file (what tests on SQLite inspect); with TEST_DATABASE_URL set, the
        # process gets a fresh PostgreSQL database instead: use `database_url` with
        # tests.databases.query to look inside either.
        self.database = workdir / "bot.sqlite3"
        self.database_url = (env or {}).get("DATABASE_URL") or (
            migrated_database_url(workdir, template=_template_with_sample_faq_vectors())
            if migrated
            else fresh_database_url(workdir)
        )
        self.log_path = workdir / "bot.log"
        # The log read so far (log() reads only what was appended since).
        self._log_read = 0
        self._log_text = ""
        self._log_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.http_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.http_port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "DATABASE_URL": self.database_url,
            "ADMIN_IDS": ",".join(str(admin) for admin in admin_ids),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "HTTP_PORT": str(self.http_port),
            # Scenarios replay a year of history through the API (expiry, tiers, campaigns);
            # the default 90 days is tested on its own.
            "PURCHASE_BACKDATE_DAYS": "400",
            # The FAQ model's cache, where there is no SQLite file to put it next to.
            "XDG_CACHE_HOME": str(workdir / "cache"),
            **(env or {}),
        }
        self.process: BotChild | None = None
        self._starts = 0

    async def start(self, timeout: float = 90.0, *, wait_for_faq: bool = True) -> None:
        """Until the bot long-polls and (wait_for_faq) its FAQ model has warmed up in the
        background, as scenarios that ask questions expect."""
        calls_before = len(self.emulator.calls)
        warm_before = self.log().count(FAQ_WARMED_UP)
        if self.faq_model_cache:
            self._place_faq_model_cache()
        self.process = BotChild.start(self.env, self.workdir, self.log_path)
        deadline = asyncio.get_running_loop().time() + timeout
        # Ready once it long-polls: a getUpdates answered, or (nothing to answer yet)
        # aiogram's own line announcing the polling loop; in webhook mode, once it set it.
        while not (
            any(call.method == "getUpdates" for call in self.emulator.calls[calls_before:])
            or self.log().count("Run polling") + self.log().count("webhook set:") > self._starts
        ):
            if self.process.returncode is not None:
                raise RuntimeError(f"the bot exited at start-up:\n{self.log()}")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the bot did not start polling:\n{self.log()}")
            await asyncio.sleep(0.05)
        self._starts += 1
        while wait_for_faq and self.log().count(FAQ_WARMED_UP) == warm_before:
            if self.process.returncode is not None:
                raise RuntimeError(f"the bot exited while the FAQ warmed up:\n{self.log()}")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the FAQ did not warm up:\n{self.log()}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> int:
        return await self.stop(signal.SIGKILL)

    def _place_faq_model_cache(self) -> None:
        """A copy of the graph this test process built once, where the bot looks for it
        (bot/services/faq/model_cache.py): beside its SQLite file, else under its
        XDG_CACHE_HOME."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            directory = (self.workdir / url.removeprefix("sqlite:///")).parent
        else:
            directory = Path(self.env["XDG_CACHE_HOME"]) / APPLICATION_DIRECTORY
        place_faq_model_cache(directory)

    def log(self) -> str:
        """Everything the bot has logged so far. Read incrementally: start-up and scenarios
        poll it every 50 ms, and re-reading a log of megabytes each time cost CPU."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_read)
                fresh = log_file.read()
        except FileNotFoundError:
            return self._log_text
        self._log_read += len(fresh)
        self._log_text += self._log_decoder.decode(fresh)
        return self._log_text

    async def cli(self, *arguments: str, stdin: str = "") -> CliResult:
        """`python -m bot ARGUMENTS` with this bot's settings, run in the test's own process
        (an operator's command as its `main(argv)` sees it, without paying a process start
        and aiogram's import for each call); `cli_process` runs it as a real process."""
        return await asyncio.to_thread(run_cli_in_process, arguments, self.env, stdin, self.workdir)

    async def cli_process(self, *arguments: str, stdin: str = "") -> CliResult:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *arguments,
            cwd=self.workdir,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
        assert process.returncode is not None
        return CliResult(process.returncode, stdout.decode(), stderr.decode())

    async def customer(self, telegram_id: int) -> dict[str, Any]:
        result = await self.cli("customer", "show", str(telegram_id), "--json")
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = result.json()
        return document


# Bot processes are forked from a server that has imported the bot once (multiprocessing's
# forkserver): each start then skips importing aiogram and the bot (~3 s of CPU) and reading
# the lemmatiser's lexicons (~1.4 s, tests/e2e/fork_preload.py), and everything after is the
# bot's own `python -m bot` path in a process of its own.
_BOT_FORKS = multiprocessing.get_context("forkserver")
_BOT_FORKS.set_forkserver_preload(
    ["bot.app", "bot.cli.run", "tests.e2e.harness", "tests.e2e.fork_preload"]
)


class BotChild:
    """A bot process forked from the preloaded server; what the tests use of
    asyncio.subprocess.Process (pid, returncode, send_signal, kill, wait)."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process
        assert process.pid is not None
        self.pid: int = process.pid

    @classmethod
    def start(cls, env: dict[str, str], workdir: Path, log_path: Path) -> BotChild:
        process = _BOT_FORKS.Process(
            target=_run_bot, args=(env, str(workdir), str(log_path)), daemon=False
        )
        process.start()
        return cls(process)

    @property
    def returncode(self) -> int | None:
        code: int | None = self._process.exitcode
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        while (code := self.returncode) is None:
            await asyncio.to_thread(multiprocessing.connection.wait, [self._process.sentinel], 1.0)
        return code


def _run_bot(env: dict[str, str], workdir: str, log_path: str) -> None:
    """In the forked process: `python -m bot` started in `workdir` with the environment `env`
    alone, its output appended to `log_path`."""
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    # Line-buffered, as PYTHONUNBUFFERED makes them in a process of its own.
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.argv = [str(ROOT / "bot" / "__main__.py")]
    raise SystemExit(cli_main([]))


# Commands redirect the process's stdout and stderr while they run: one at a time.
_IN_PROCESS_CLI = threading.Lock()


def run_cli_in_process(
    arguments: tuple[str, ...], env: dict[str, str], stdin: str, workdir: Path
) -> CliResult:
    """The CLI's `main(argv)` in this process, as a process started in `workdir` with the
    environment `env` would run it (settings from `env` alone, relative paths from `workdir`)."""
    stdout, stderr = StringIO(), StringIO()
    with _IN_PROCESS_CLI, redirect_stdout(stdout), redirect_stderr(stderr), chdir(workdir):
        saved_stdin, sys.stdin = sys.stdin, StringIO(stdin)
        try:
            settings = load_settings(env, env_file=None)
            returncode = cli_main(list(arguments), settings)
        except SettingsError as error:
            print(error, file=sys.stderr)
            returncode = EXIT_CONFIGURATION
        except SystemExit as exit_:  # argparse's usage errors
            returncode = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:
            traceback.print_exc()
            returncode = 1
        finally:
            sys.stdin = saved_stdin
    return CliResult(returncode, stdout.getvalue(), stderr.getvalue())


@cache
def _faq_model_built_once() -> tuple[Path, list[Any]] | None:
    """The FAQ model's graph built once per test process (once per xdist worker), as the bot
    builds and caches it on its first start, and the sample FAQ's phrasings embedded by it
    while it is loaded: (the graph's directory, faq_vectors rows' fields in a row). None
    where this machine has no model."""
    directory = Path(tempfile.mkdtemp(prefix="faq-model-cache-"))
    embedder = default_embedder(directory)
    if embedder is None or not (directory / CACHE_FILE_NAME).exists():
        return None
    texts = list(dict.fromkeys(t for entry in read_file(SAMPLE_FAQ) for t in entry.phrasings()))
    fields = [
        field
        for text, vector in zip(texts, embedder.embed(texts), strict=True)
        for field in (embedder.name, text_hash(text), vector.astype(np.float32).tobytes())
    ]
    return directory, fields


def built_faq_model_cache() -> Path | None:
    """Where the FAQ model's graph lies (_faq_model_built_once): bots load it instead of each
    spending seconds of CPU building the same graph. None where this machine has no model."""
    built = _faq_model_built_once()
    return built[0] if built is not None else None


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Until `check()` holds, for what only the bot's database or CLI can tell (the emulator's
    wait_for re-checks on Telegram traffic only): polled every 0.1 s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{check.__qualname__} did not hold within {timeout} s")
        await asyncio.sleep(0.1)


async def settled(bot: BotProcess, timeout: float = 15.0) -> None:
    """Until the bot (long polling) has finished handling every update queued for it so far:
    taken from the emulator, recorded in its processed_updates, and none of them still being
    handled ('received'; 'done' once the handler returned, 'orphaned' if a killed process
    was cut short). What a check that nothing (more) came of them waits on. A redelivered
    copy of an update already done may still be on its way to being skipped: a test about
    duplicates waits for the bot's "delivered again" line as well."""
    emulator = bot.emulator
    last = emulator.last_update_id
    await emulator.wait_for(lambda: emulator.pending_updates == 0, timeout)

    async def handled() -> bool:
        unfinished = value(
            bot.database_url,
            "SELECT COUNT(*) FROM processed_updates WHERE update_id <= ? AND state = 'received'",
            (last,),
        )
        newest = value(bot.database_url, "SELECT MAX(update_id) FROM processed_updates")
        return unfinished == 0 and (newest or 0) >= last

    await eventually(handled, timeout)


@cache
def _template_with_sample_faq_vectors() -> str | None:
    """A migrated database that already holds the sample FAQ's phrasing vectors, embedded
    once per test process by the graph the bots load (_faq_model_built_once). A bot's first
    start loads the sample FAQ as in production but finds its vectors stored, as a restart
    does, instead of each bot spending ~0.7 s of CPU embedding the same 138 phrasings. The
    embedding itself stays tested where it is the subject (BotProcess(migrated=False), the
    FAQ's integration tests). None where this machine has no model."""
    built = _faq_model_built_once()
    if built is None:
        return None
    fields = built[1]
    statement = "INSERT INTO faq_vectors (model, text_hash, vector) VALUES " + ", ".join(
        ["(?, ?, ?)"] * (len(fields) // 3)
    )

    def fill(url: str) -> None:
        query(url, statement, tuple(fields))

    return filled_template(fill)


def place_faq_model_cache(directory: Path) -> None:
    """A copy of the FAQ model's graph built once (built_faq_model_cache) in `directory`,
    where a bot or sandbox looks for it; a cache already there (a restart) is left alone."""
    built = built_faq_model_cache()
    if built is not None and not (directory / CACHE_FILE_NAME).exists():
        directory.mkdir(parents=True, exist_ok=True)
        for name in CACHE_FILE_NAMES:  # the manifest, the graph and its weights
            shutil.copyfile(built / name, directory / name)


def rejected_calls(emulator: BotAPIEmulator) -> list[Any]:
    """Calls Telegram would have refused (4xx other than the faults a test injected)."""
    return [
        call
        for call in emulator.calls
        if not call.ok and call.error_code == 400 and not getattr(call, "injected", False)
    ]


async def buy(
    api: Any, order_id: str, telegram_id: int, amount: str, purchased_at: Any = None
) -> dict[str, Any]:
    """A purchase through the integration API, as a till records it (back-dated if given)."""
    order = {"order_id": order_id, "telegram_id": telegram_id, "amount": amount}
    if purchased_at is not None:
        order["purchased_at"] = purchased_at.isoformat()
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201, await response.text()
        recorded: dict[str, Any] = await response.json()
        return recorded


def buttons(message: dict[str, Any]) -> dict[str, Any]:
    """An inline keyboard as {label: callback data}."""
    markup = message.get("reply_markup") or {}
    return {
        button["text"]: button.get("callback_data")
        for row in markup.get("inline_keyboard", [])
        for button in row
    }


async def press(
    emulator: BotAPIEmulator, user: Any, message: dict[str, Any], data: str, *, forge: bool = False
) -> tuple[Any, Any]:
    """Press a button and wait for the bot's answer; returns (answer, the message now)."""
    query = user.press(message, data, forge=forge)
    await emulator.wait_for(lambda: emulator.callback_answer(query) is not None)
    stored = user.chat.get(message["message_id"])
    return emulator.callback_answer(query), stored.payload if stored else None


def ticket_number(text: str) -> int:
    """The ticket number a support message names ("#12")."""
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match.group(1))


async def topic_of(emulator: BotAPIEmulator, chat: EmulatedChat, ticket: int) -> int:
    """The forum topic of a ticket, once the bot has opened it."""

    def found() -> bool:
        return any(topic.name.endswith(f"#{ticket}") for topic in chat.topics.values())

    await emulator.wait_for(found)
    return next(
        thread for thread, topic in chat.topics.items() if topic.name.endswith(f"#{ticket}")
    )


def midday_zone() -> str:
    """A fixed-offset time zone where it is around noon now, so that no test step crosses
    a local midnight and "today" is the same day throughout."""
    offset = 12 - datetime.now(UTC).hour
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3
