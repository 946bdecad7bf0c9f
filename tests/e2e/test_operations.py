"""Operations over HTTP and the CLI: /metrics, /healthz, JSON logs, online backups."""

from __future__ import annotations

import json
import sqlite3

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import BotProcess, settled

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_health_and_json_logs(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path, env={"LOG_FORMAT": "json"})
    await bot.start()
    ivy = own_emulator.add_user(first_name="Ivy", language_code="en")
    ivy.send_text("/start")
    await ivy.next_message(timeout=15)
    ivy.send_text("/help")
    await ivy.next_message(timeout=15)
    # A reply Telegram refuses: the handler fails, and the error is counted.
    own_emulator.fail_next("sendMessage", error_code=400, description="Bad Request: boom")
    ivy.send_text("/help")
    await own_emulator.wait_for(
        lambda: any(not call.ok for call in own_emulator.calls_to("sendMessage")), timeout=15
    )
    await settled(bot)

    async with aiohttp.ClientSession(bot.api_url) as http:
        async with http.get("/healthz") as answer:
            assert answer.status == 200
            health = await answer.json()
        async with http.get("/api/v1/customers/1") as answer:
            assert answer.status == 401
        async with http.get("/metrics") as answer:
            assert answer.status == 200
            assert answer.content_type == "text/plain"
            found = samples(await answer.text())

    assert health["status"] == "ok"
    assert health["mode"] == "polling"
    assert health["database"] == {"ok": True}
    assert health["telegram"] == {"ok": True}
    assert health["faq"] == {"warming_up": False}
    assert health["queues"] == {"webhook_inbox": 0, "notices": 0, "broadcast_recipients": 0}

    assert value(found, "bot_updates_total", type="message", outcome="handled") == 2
    assert value(found, "bot_updates_total", type="message", outcome="error") == 1
    assert value(found, "bot_update_duration_seconds_count", type="message") == 3
    assert value(found, "bot_errors_total", logger="handlers.common.errors") >= 1
    assert value(found, "bot_tickets_open") == 0
    assert value(found, "bot_broadcasts", state="sending") == 0
    assert ("bot_broadcast_recipients", (("state", "pending"),)) in found
    assert value(found, "bot_api_requests_total", method="GET", route="/healthz", status="200") == 1
    assert (
        value(
            found,
            "bot_api_requests_total",
            method="GET",
            route="/api/v1/customers/{telegram_id}",
            status="401",
        )
        == 1
    )
    assert value(found, "bot_api_request_duration_seconds_count", route="/healthz") == 1

    assert await bot.stop() == 0
    records = [json.loads(line) for line in bot.log().splitlines() if line.startswith("{")]
    assert len(records) > 10
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    handled = [record for record in records if "is handled" in record["message"]]
    assert len(handled) == 3
    assert all(isinstance(record.get("update_id"), int) for record in handled)
    failure = [record for record in records if record["level"] == "ERROR"]
    assert failure and "exception" in failure[0] and "boom" in failure[0]["exception"]
    assert "update_id" in failure[0]
    # The bot token never reaches the logs, JSON or not.
    assert "AAH-test-token" not in bot.log()


async def test_healthz_reports_telegram_unreachable_as_degraded(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await bot.start()
    own_emulator.fail_next("getMe", error_code=400, description="Bad Request: unreachable")
    async with aiohttp.ClientSession(bot.api_url) as http, http.get("/healthz") as answer:
        assert answer.status == 200  # a restart would not bring Telegram back
        health = await answer.json()
    assert health["status"] == "degraded"
    assert health["telegram"]["ok"] is False
    assert "unreachable" in health["telegram"]["error"]
    assert health["database"] == {"ok": True}
    assert await bot.stop() == 0


async def test_backup_while_the_bot_runs_is_a_consistent_copy(own_emulator, tmp_path):
    # `backup` is SQLite's (PostgreSQL has pg_dump): on SQLite whichever backend the suite runs.
    sqlite_url = f"sqlite:///{tmp_path / 'bot' / 'bot.sqlite3'}"
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"DATABASE_URL": sqlite_url})
    await bot.start()
    users = [own_emulator.add_user(first_name=f"B{n}", language_code="en") for n in range(20)]
    for user in users[:10]:
        user.send_text("/start")
    await own_emulator.wait_for(lambda: all(user.messages for user in users[:10]), timeout=30)
    # More customers arrive while the copy is taken.
    for user in users[10:]:
        user.send_text("/start")
    target = tmp_path / "backups" / "bot-copy.sqlite3"
    result = await bot.cli("backup", str(target))
    assert result.returncode == 0, result.stderr
    assert "backed up" in result.stdout
    await own_emulator.wait_for(lambda: all(user.messages for user in users), timeout=30)

    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        customers = copy.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
        assert 10 <= customers <= 20
        # Consistent: every customer in the copy has its /start recorded with it.
        assert copy.execute(
            "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS "
            "(SELECT 1 FROM interactions i WHERE i.customer_id = c.id)"
        ).fetchone() == (0,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not (target.parent / "bot-copy.sqlite3.partial").exists()

    # The copy is a working database: the bot starts on it.
    refused = await bot.cli("backup", str(bot.database))
    assert refused.returncode == 2 and "database itself" in refused.stderr
    assert await bot.stop() == 0
    restored = BotProcess(own_emulator, tmp_path / "restored")
    restored.env["DATABASE_URL"] = f"sqlite:///{target}"
    restored.database = target
    await restored.start()
    assert await restored.stop() == 0


async def test_backup_never_overwrites_the_live_database_or_its_journals(own_emulator, tmp_path):
    # The live files, named absolutely, relatively (the CLI runs in the bot's directory) and
    # through a symlink: each one would be replaced by the copy, so each is refused.
    sqlite_url = f"sqlite:///{tmp_path / 'bot' / 'bot.sqlite3'}"
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"DATABASE_URL": sqlite_url})
    await bot.start()
    ada = own_emulator.add_user(first_name="Ada", language_code="en")
    ada.send_text("/start")
    await own_emulator.wait_for(lambda: ada.messages, timeout=30)
    before = await bot.cli("points", "check")
    assert before.returncode == 0, before.stdout
    wal = bot.database.with_name("bot.sqlite3-wal")
    assert wal.exists()  # the bot runs in WAL mode: the attack has something to destroy
    link = tmp_path / "innocent-looking.sqlite3"
    link.symlink_to(wal)
    targets = [
        str(wal),
        "bot.sqlite3-wal",
        "./bot.sqlite3-shm",
        str(bot.database.with_name("bot.sqlite3-journal")),
        "bot.sqlite3",
        str(link),
        str(tmp_path / "bot" / ".." / "bot" / "bot.sqlite3"),
    ]
    for target in targets:
        refused = await bot.cli("backup", target)
        assert refused.returncode == 2, (target, refused.stdout)
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "live database" in refused.stderr or "database itself" in refused.stderr

    # The bot keeps working and the ledger is intact.
    ada.send_text("/start")
    await own_emulator.wait_for(lambda: len(ada.messages) >= 2, timeout=30)
    after = await bot.cli("points", "check")
    assert after.returncode == 0, after.stdout
    assert after.stdout == before.stdout
    assert link.is_symlink() and link.resolve() == wal.resolve()
    assert await bot.stop() == 0
    with sqlite3.connect(bot.database) as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert database.execute("SELECT COUNT(*) FROM customers").fetchone() == (1,)
