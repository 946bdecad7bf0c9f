"""The sandbox's Telegram (people and the agents' forum) and the bot's settings for it."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from bot.config import Settings, load_settings
from bot.emulator import BotAPIEmulator
from bot.sandbox.personas import (
    DEMO_CUSTOMERS,
    PERSONAS,
    SUPPORT_CHAT_ID,
    SUPPORT_CHAT_TITLE,
    TOKEN,
)

# Everything listens on the loopback interface only: the sandbox has no authentication.
HOST = "127.0.0.1"


def free_port() -> int:
    """A port on HOST nobody listens on, for a server started a moment later. Chosen below
    the range the kernel hands out for outgoing connections (and for `bind(0)`): a port from
    that range can be taken as a connection's local port in between (CI saw it once, among
    the test suite's many PostgreSQL connections)."""
    start = _ephemeral_ports_start()
    below = range(max(1024, start - 10_000), start)
    for port in random.sample(below, min(64, len(below))):
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # not Linux: IANA's dynamic range, where macOS hands ports out


def populate(emulator: BotAPIEmulator) -> None:
    """The people of the sandbox's Telegram and the agents' forum supergroup."""
    for persona in PERSONAS:
        emulator.add_user(
            first_name=persona.first_name,
            last_name=persona.last_name,
            username=persona.username,
            language_code=persona.language,
            user_id=persona.user_id,
        )
    for customer in DEMO_CUSTOMERS:
        emulator.add_user(
            first_name=customer.first_name,
            username=customer.username,
            language_code=customer.language,
            user_id=customer.user_id,
        )
    staff = [emulator.users[p.user_id] for p in PERSONAS if p.role in ("agent", "admin")]
    emulator.add_forum_supergroup(SUPPORT_CHAT_TITLE, chat_id=SUPPORT_CHAT_ID, members=staff)


def sandbox_settings(emulator: BotAPIEmulator, database: Path, http_port: int) -> Settings:
    """Production settings with Telegram swapped for the emulator; a few waits shortened so
    that what happens later (rating requests) can be seen within a demo."""
    admins = tuple(p.user_id for p in PERSONAS if p.role == "admin")
    return load_settings(
        bot_token=TOKEN,
        telegram_api_url=emulator.base_url,
        database_url=f"sqlite:///{database}",
        admin_ids=admins,
        support_chat_id=SUPPORT_CHAT_ID,
        http_host=HOST,
        http_port=http_port,
        quiet_hours="",
        promotion_quiet_hours="",
        support_hours=None,
        review_request_delay_minutes=0.5,
        jobs_tick_seconds=2.0,
        broadcast_poll_seconds=1.0,
        # Each shutdown step waits at most this long: Ctrl+C or SIGTERM ends it in seconds.
        shutdown_grace_seconds=1.0,
    )
