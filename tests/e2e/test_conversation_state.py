"""Conversation state outlives the process: a customer mid-review when the bot restarts
carries on where they were (state in the database, or in Redis with REDIS_URL)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio

from bot.sandbox.setup import free_port
from tests.databases import rows
from tests.e2e.harness import BotProcess, buy


def _stars(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["callback_data"] for row in rows for button in row]


@pytest.fixture
async def redis_url(tmp_path):
    """A real redis-server of the test's own (Debian's `redis-server` package)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
            else:
                writer.close()
                break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


async def _review_across_a_restart(
    emulator: Any, bot: BotProcess, api_for: Any, where: Callable[[], Awaitable[str | None]]
) -> None:
    await bot.start()
    api = await api_for(bot)
    rosa = emulator.add_user(first_name="Rosa", language_code="en")
    rosa.send_text("/start")
    await rosa.next_message(timeout=15)
    await buy(api, "STATE-1", rosa.id, "10.00")
    await rosa.next_message(timeout=15)  # points earned
    rosa.send_text("/review")
    question = await rosa.next_message(timeout=15)
    press = rosa.press(question, _stars(question)[3])
    await emulator.wait_for(lambda: emulator.callback_answer(press) is not None, timeout=15)
    assert "comment" in rosa.messages[-1]["text"]
    assert await where() == "ReviewComment:waiting"

    assert await bot.stop() == 0  # the bot restarts between the question and the answer
    await bot.start()
    rosa.send_text("Good, but the queue was long")
    reply = await rosa.next_message(timeout=15)
    # Once seen failing with the error handler's apology (not reproduced since): the log says why.
    assert "added it to your review" in reply["text"], bot.log()[-4000:]
    assert await bot.stop() == 0
    found = rows(
        bot.database_url,
        "SELECT r.stars, r.text FROM reviews r JOIN customers c ON c.id = r.customer_id "
        "WHERE c.telegram_id = ?",
        (rosa.id,),
    )
    assert found == [(4, "Good, but the queue was long")]


async def test_a_review_continues_after_a_restart_with_state_in_the_database(
    own_emulator, tmp_path, api_for
):
    bot = BotProcess(own_emulator, tmp_path)

    async def state_in_database() -> str | None:
        states = rows(bot.database_url, "SELECT state FROM fsm_states")
        return str(states[0][0]) if len(states) == 1 else None

    await _review_across_a_restart(own_emulator, bot, api_for, state_in_database)
    # The conversation ended: no state is left behind.
    assert rows(bot.database_url, "SELECT COUNT(*) FROM fsm_states") == [(0,)]


async def test_a_review_continues_after_a_restart_with_state_in_redis(
    own_emulator, tmp_path, api_for, redis_url
):
    bot = BotProcess(own_emulator, tmp_path, env={"REDIS_URL": redis_url})

    async def state_in_redis() -> str | None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter("fsm:*:state")]
            value = await client.get(keys[0]) if len(keys) == 1 else None
        finally:
            await client.aclose()
        # Nothing of it in the database: Redis holds the conversation.
        assert rows(bot.database_url, "SELECT COUNT(*) FROM fsm_states") == [(0,)]
        return None if value is None else str(value)

    await _review_across_a_restart(own_emulator, bot, api_for, state_in_redis)
    assert rows(bot.database_url, "SELECT COUNT(*) FROM fsm_states") == [(0,)]
