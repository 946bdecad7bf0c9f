"""Webhook mode: updates through the bot's HTTP server, stored before the 200, once each."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.emulator import BotAPIEmulator
from bot.sandbox.setup import free_port
from tests.databases import fresh_database_url, rows
from tests.e2e.harness import BotProcess, eventually, rejected_calls

SECRET = "test-webhook-secret_0123456789"
PATH = "/telegram/webhook"


def webhook_bot(
    emulator: BotAPIEmulator,
    workdir: Path,
    *,
    url: str | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> BotProcess:
    shared = {"DATABASE_URL": database_url} if database_url else {}
    process = BotProcess(
        emulator, workdir, env={"BROADCAST_POLL_SECONDS": "0.3", **shared, **(env or {})}
    )
    process.env["WEBHOOK_URL"] = url or f"{process.api_url}{PATH}"
    process.env["WEBHOOK_SECRET"] = SECRET
    process.env["WEBHOOK_LEASE_SECONDS"] = "3"
    return process


def message_update(update_id: int, user: Any, text: str, message_id: int) -> dict[str, Any]:
    person = user.as_user()
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": person,
            "chat": {"id": person["id"], "type": "private", "first_name": person["first_name"]},
            "date": int(time.time()),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return rows(url, sql, params)


def inbox_drained(bot: BotProcess) -> Callable[[], Awaitable[bool]]:
    """Whether every update the bot stored in its webhook inbox has been handled (an update
    is stored before Telegram gets its 200)."""

    async def drained() -> bool:
        unfinished = query(
            bot.database_url, "SELECT COUNT(*) FROM webhook_inbox WHERE state <> 'done'"
        )
        return bool(unfinished == [(0,)])

    return drained


async def test_webhook_mode_serves_updates_and_refuses_a_wrong_secret(own_emulator, tmp_path):
    bot = webhook_bot(own_emulator, tmp_path)
    await bot.start()
    setup = own_emulator.calls_to("setWebhook")[-1]
    assert setup.params["url"] == f"{bot.api_url}{PATH}"
    assert setup.params["secret_token"] == SECRET
    # Polling is over: Telegram refuses getUpdates while a webhook is set, and the bot
    # neither polls nor deletes its own webhook.
    assert own_emulator.calls_to("getUpdates") == []
    assert own_emulator.calls_to("deleteWebhook") == []

    ann = own_emulator.add_user(first_name="Ann", language_code="en")
    ann.send_text("/start")
    reply = await ann.next_message(timeout=10)
    assert "Ann" in reply["text"] or reply["text"]
    ann.send_text("/help")
    help_text = await ann.next_message(timeout=10)
    assert "/points" in help_text["text"]

    forged = message_update(99_000_001, ann, "/help", 900)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(f"{bot.api_url}{PATH}", json=forged, headers=headers) as answer:
                assert answer.status == 401
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(f"{bot.api_url}{PATH}", data=b"{not json", headers=good) as answer:
            assert answer.status == 400
        async with http.post(f"{bot.api_url}{PATH}", json={"x": 1}, headers=good) as answer:
            assert answer.status == 400
    await eventually(inbox_drained(bot))
    assert len(ann.messages) == 2  # nothing came of the refused requests
    assert query(
        bot.database_url, "SELECT COUNT(*) FROM webhook_inbox WHERE update_id = ?", (99_000_001,)
    ) == [(0,)]

    async with aiohttp.ClientSession() as http, http.get(f"{bot.api_url}/healthz") as answer:
        health = await answer.json()
        assert answer.status == 200
    assert health["mode"] == "webhook"
    assert health["database"]["ok"] is True
    assert health["telegram"]["ok"] is True
    assert health["queues"]["webhook_inbox"] == 0

    assert await bot.stop() == 0
    assert rejected_calls(own_emulator) == []
    # Telegram still knows the webhook: other replicas (or this one, restarted) serve it.
    assert own_emulator.webhook.active


async def test_the_same_update_delivered_twice_is_handled_once(own_emulator, tmp_path):
    bot = webhook_bot(own_emulator, tmp_path)
    await bot.start()
    ben = own_emulator.add_user(first_name="Ben", language_code="en", started=True)
    update = message_update(77_000_001, ben, "/help", 1)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession() as http:

        async def deliver() -> int:
            async with http.post(f"{bot.api_url}{PATH}", json=update, headers=headers) as answer:
                return answer.status

        # Twice at once, then again after it was handled: every delivery gets its 200.
        assert list(await asyncio.gather(deliver(), deliver())) == [200, 200]
        await own_emulator.wait_for(lambda: len(ben.messages) == 1, timeout=10)
        assert await deliver() == 200
    # Telegram's own redelivery of the same id, through the emulator's webhook.
    own_emulator.inject_update(dict(update))
    await own_emulator.wait_for(lambda: own_emulator.pending_updates == 0, timeout=10)
    await eventually(inbox_drained(bot))
    assert len(ben.messages) == 1
    assert await bot.stop() == 0
    record = await bot.customer(ben.id)
    assert [item["direction"] for item in record["interactions"]] == ["in", "out"]


async def test_a_large_update_is_taken_while_the_api_keeps_its_limit(
    own_emulator, tmp_path, api_for
):
    bot = webhook_bot(own_emulator, tmp_path)
    await bot.start()
    cleo = own_emulator.add_user(first_name="Cleo", language_code="en", started=True)
    # A command replying to a long, richly formatted message: Telegram sends the quoted
    # message whole, entities and all, so an update outgrows the API's 64 KiB.
    quoted_text = "word " * 819
    update = message_update(78_000_001, cleo, "/help", 2)
    update["message"]["reply_to_message"] = {
        "message_id": 1,
        "from": cleo.as_user(),
        "chat": update["message"]["chat"],
        "date": update["message"]["date"],
        "text": quoted_text,
        "entities": [
            {"type": "bold", "offset": offset, "length": 4}
            for offset in range(0, len(quoted_text) - 4, 5)
        ]
        * 5,
    }
    payload = json.dumps(update).encode()
    assert 150 * 1024 < len(payload) < 1024 * 1024
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{bot.api_url}{PATH}", data=payload, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
        await own_emulator.wait_for(lambda: len(cleo.messages) == 1, timeout=10)
        assert "/points" in cleo.messages[-1]["text"]
        api = await api_for(bot)
        body = {"order_id": "BIG-1", "telegram_id": cleo.id, "amount": "1.00"}
        async with api.post("/api/v1/purchases", json={**body, "x": "y" * 100 * 1024}) as answer:
            assert answer.status == 413
    assert await bot.stop() == 0


async def test_an_update_acknowledged_before_a_kill_9_is_handled_after_the_restart(
    own_emulator, tmp_path
):
    bot = webhook_bot(own_emulator, tmp_path)
    await bot.start()
    cid = own_emulator.add_user(first_name="Cid", language_code="en")
    # Telegram answers slowly: the handler is still waiting on its reply when the bot dies.
    own_emulator.set_latency(5.0)
    cid.send_text("/help")
    await own_emulator.wait_for(lambda: own_emulator.webhook.delivered == 1, timeout=10)
    await asyncio.sleep(0.3)
    await bot.kill()
    own_emulator.set_latency(0)
    assert cid.messages == []
    stored = query(bot.database_url, "SELECT state FROM webhook_inbox")
    assert stored == [("pending",)]

    await bot.start()
    # The dead process's lease (3 s here) lapses, then the restarted bot takes the update.
    reply = await cid.next_message(timeout=20)
    assert "/points" in reply["text"]
    await own_emulator.wait_for(
        lambda: (
            query(bot.database_url, "SELECT state, attempts FROM webhook_inbox") == [("done", 2)]
        ),
        timeout=10,
    )
    assert "retaken (attempt 2)" in bot.log()
    assert await bot.stop() == 0
    record = await bot.customer(cid.id)
    assert [item["direction"] for item in record["interactions"]].count("in") == 1


async def test_back_to_polling_the_stale_webhook_goes_and_stored_updates_are_handled(
    own_emulator, tmp_path
):
    bot = webhook_bot(own_emulator, tmp_path)
    await bot.start()
    dan = own_emulator.add_user(first_name="Dan", language_code="en")
    own_emulator.set_latency(5.0)
    dan.send_text("/help")
    await own_emulator.wait_for(lambda: own_emulator.webhook.delivered == 1, timeout=10)
    await asyncio.sleep(0.3)
    await bot.kill()  # stored in the inbox, never answered
    own_emulator.set_latency(0)

    del bot.env["WEBHOOK_URL"]  # the operator goes back to polling
    await bot.start()
    assert own_emulator.calls_to("deleteWebhook", ok=True)
    assert not own_emulator.webhook.active
    reply = await dan.next_message(timeout=20)  # once the dead process's lease lapsed
    assert "/points" in reply["text"]
    dan.send_text("/help")  # and polling works
    await own_emulator.wait_for(lambda: len(dan.messages) == 2, timeout=15)
    assert own_emulator.calls_to("getUpdates", ok=True)
    await own_emulator.wait_for(lambda: "the webhook inbox is empty" in bot.log(), timeout=10)
    assert await bot.stop() == 0
    assert query(bot.database_url, "SELECT state FROM webhook_inbox") == [("done",)]


class RoundRobin:
    """A load balancer in front of the replicas: each request to the next one, in turn.
    Every `echo`-th request is also sent to the other replica, as a retrying Telegram
    would after a lost answer."""

    def __init__(self, targets: list[str], echo: int = 5) -> None:
        self.targets = targets
        self.echo = echo
        self.sent = [0] * len(targets)
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post(PATH, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}{PATH}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _post(self, index: int, body: bytes, headers: dict[str, str]) -> int:
        assert self._session is not None
        try:
            async with self._session.post(self.targets[index], data=body, headers=headers) as r:
                self.sent[index] += 1
                return r.status
        except aiohttp.ClientError:
            return 502

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in {"content-type", "x-telegram-bot-api-secret-token"}
        }
        turn = next(self._turn)
        index = turn % len(self.targets)
        status = await self._post(index, body, headers)
        if turn % self.echo == 0:
            await self._post((index + 1) % len(self.targets), body, headers)
        return web.Response(status=status)


async def test_two_replicas_on_one_database_share_a_stream_without_loss_or_duplicate(
    own_emulator, tmp_path
):
    database = fresh_database_url(tmp_path)
    replicas = [
        webhook_bot(own_emulator, tmp_path / f"replica{n}", database_url=database) for n in (1, 2)
    ]
    balancer = RoundRobin([f"{replica.api_url}{PATH}" for replica in replicas])
    await balancer.start()
    try:
        for replica in replicas:
            replica.env["WEBHOOK_URL"] = balancer.url
            await replica.start()
        users = [own_emulator.add_user(first_name=f"User{n}", language_code="en") for n in range(8)]
        rounds = 6
        for _ in range(rounds):
            for user in users:
                user.send_text("/help")
        total = rounds * len(users)
        await own_emulator.wait_for(
            lambda: all(len(user.messages) >= rounds for user in users), timeout=60
        )
        await own_emulator.wait_for(lambda: own_emulator.pending_updates == 0, timeout=10)

        async def every_update_handled() -> bool:
            done = rows(database, "SELECT COUNT(*) FROM webhook_inbox WHERE state = 'done'")
            return bool(done == [(total,)])

        await eventually(every_update_handled)
        assert [len(user.messages) for user in users] == [rounds] * len(users)
        assert min(balancer.sent) >= total // 2

        # A broadcast while both replicas run: one sends it, each customer gets it once.
        created = await replicas[1].cli("broadcast", "create", "--text", "Replica sale")
        assert created.returncode == 0, created.stderr
        await own_emulator.wait_for(
            lambda: all(len(user.messages) > rounds for user in users), timeout=60
        )
        broadcast_id = created.stdout.strip().splitlines()[-1]

        async def broadcast_done() -> bool:
            status = await replicas[0].cli("broadcast", "status", broadcast_id, "--json")
            return bool(status.json()["state"] == "done")

        # Done: every recipient's send was recorded, after Telegram (here) took it.
        await eventually(broadcast_done, timeout=30)
        for user in users:
            got = [m for m in user.messages if "Replica sale" in str(m.get("text") or "")]
            assert len(got) == 1, user.first_name

        for replica in replicas:
            assert await replica.stop() == 0
    finally:
        await balancer.stop()
    assert query(database, "SELECT state, COUNT(*) FROM webhook_inbox GROUP BY state") == [
        ("done", total)
    ]
    # Each update recorded once in the conversation log, whichever replica handled it.
    assert query(
        database,
        "SELECT COUNT(*) AS n, COUNT(DISTINCT update_id) AS d FROM interactions "
        "WHERE direction = 'in'",
    ) == [(total, total)]
    handled = [replica.log().count(" is handled") for replica in replicas]
    assert sum(handled) == total
    assert all(count > 0 for count in handled), handled
    assert rejected_calls(own_emulator) == []
