"""Start-up, shutdown and crashes: the bot's promises across process boundaries."""

import asyncio
import signal

from tests.e2e.harness import BotProcess, rejected_calls, settled


async def test_sigterm_finishes_the_update_in_flight_and_exits_0(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await bot.start()
    ann = own_emulator.add_user(first_name="Ann", language_code="en")
    own_emulator.set_latency(1.0)  # the reply is still on its way when SIGTERM arrives
    ann.send_text("/start")
    await own_emulator.wait_for(
        lambda: any(call.method == "getUpdates" and call.result for call in own_emulator.calls)
    )
    await asyncio.sleep(0.3)
    assert await bot.stop(signal.SIGTERM) == 0
    own_emulator.set_latency(0)
    assert len(ann.messages) == 1
    record = await bot.customer(ann.id)
    assert [(item["direction"], item["status"]) for item in record["interactions"]] == [
        ("in", "received"),
        ("out", "sent"),
    ]
    assert "storage closed" in bot.log()
    assert (
        not bot.database_url.startswith("sqlite:///")
        or not (tmp_path / "bot.sqlite3-wal").exists()
        or (tmp_path / "bot.sqlite3-wal").stat().st_size == 0
    )


async def test_kill_9_loses_no_record_and_no_update_is_answered_twice(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await bot.start()
    ben = own_emulator.add_user(first_name="Ben", language_code="en")
    for text in ("/start", "/help", "/menu"):
        ben.send_text(text)
    await own_emulator.wait_for(lambda: len(ben.messages) == 3)
    # Killed before the next getUpdates could confirm the batch: Telegram will redeliver it.
    await bot.kill()
    record = await bot.customer(ben.id)
    assert [item["direction"] for item in record["interactions"]].count("out") == 3
    assert [item["direction"] for item in record["interactions"]].count("in") == 3

    await bot.start()
    ben.send_text("/help")
    await own_emulator.wait_for(lambda: len(ben.messages) == 4)
    await settled(bot)
    assert len(ben.messages) == 4
    assert await bot.stop() == 0
    record = await bot.customer(ben.id)
    assert [item["direction"] for item in record["interactions"]].count("in") == 4
    assert rejected_calls(own_emulator) == []


async def test_bad_token_is_reported_clearly(own_emulator, tmp_path):
    bot = BotProcess(
        own_emulator, tmp_path, env={"BOT_TOKEN": "999999:AAH-wrong-token-00000000000000000"}
    )
    result = await bot.cli()
    assert result.returncode == 2
    assert "BOT_TOKEN was rejected by Telegram" in result.stderr
    assert "Traceback" not in result.stderr


async def test_migrate_and_customer_show_from_the_cli(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path, migrated=False)
    migrated = await bot.cli("migrate")
    assert migrated.returncode == 0
    assert "0023_baseline" in migrated.stdout
    again = await bot.cli("migrate")
    assert "nothing to apply" in again.stdout
    missing = await bot.cli("customer", "show", "12345")
    assert missing.returncode == 1
    assert "no customer with Telegram id 12345" in missing.stderr

    await bot.start()
    cy = own_emulator.add_user(first_name="Cy", username="cy", language_code="uk")
    cy.send_text("/start")
    await cy.next_message()
    await bot.stop()
    shown = await bot.cli("customer", "show", str(cy.id))
    assert shown.returncode == 0
    assert "Cy (@cy)" in shown.stdout
    assert "in   command" in shown.stdout and "out  sendMessage" in shown.stdout
