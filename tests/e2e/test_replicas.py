"""Two bot processes on one database (replicas behind a load balancer): every guarantee must
hold across processes, on PostgreSQL (TEST_DATABASE_URL) and on one SQLite file alike."""

import asyncio
from typing import Any

import aiohttp

from tests.databases import fresh_database_url, rows
from tests.e2e.harness import BotProcess, eventually


async def _post(api: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with api.post(path, json=body) as response:
        return response.status, await response.json()


async def _balance(api: aiohttp.ClientSession, telegram_id: int) -> int:
    async with api.get(f"/api/v1/customers/{telegram_id}") as response:
        assert response.status == 200, await response.text()
        document = await response.json()
        return int(document["balance"])


def _received(user: Any, marker: str) -> list[Any]:
    return [m for m in user.messages if marker in str(m.get("text") or "")]


async def _broadcast(process: BotProcess, text: str, timeout: float = 60) -> None:
    created = await process.cli("broadcast", "create", "--text", text)
    assert created.returncode == 0, created.stderr
    broadcast_id = created.stdout.strip().splitlines()[-1]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await process.cli("broadcast", "status", broadcast_id, "--json")
        assert status.returncode == 0, status.stderr
        if status.json()["state"] == "done":
            return
        assert asyncio.get_running_loop().time() < deadline, status.stdout
        await asyncio.sleep(0.5)


async def test_two_processes_share_one_database_without_double_counting(
    own_emulator, tmp_path, api_for
):
    url = fresh_database_url(tmp_path)
    first = BotProcess(own_emulator, tmp_path / "first", env={"DATABASE_URL": url})
    second = BotProcess(own_emulator, tmp_path / "second", env={"DATABASE_URL": url})
    await first.start(timeout=120)  # the first start migrates and embeds the FAQ
    try:
        ann = own_emulator.add_user(first_name="Ann", language_code="en")
        crowd = [own_emulator.add_user(first_name=f"C{i}", language_code="en") for i in range(20)]
        for user in (ann, *crowd):
            user.send_text("/start")
        for user in (ann, *crowd):
            await user.next_message(timeout=30)
        # Both replicas long-poll the same bot meanwhile (Telegram answers one of them at a
        # time); the work under test arrives through their HTTP APIs.
        await second.start(timeout=120)
        till = await api_for(first)
        # The token lives in the shared database: the second replica accepts it too.
        elsewhere = aiohttp.ClientSession(second.api_url, headers=dict(till.headers))
        apis = [till, elsewhere]
        opening = await _balance(apis[1], ann.id)  # the welcome bonus, if the rules give one

        async def notices_sent() -> bool:
            pending = rows(url, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
            return bool(pending == [(0,)])

        await eventually(notices_sent)
        ann.skip_messages()  # whatever the welcome brought
        notices_before = rows(url, "SELECT COUNT(*) FROM outbox")[0][0]

        # The same order sent to both replicas at once, five times each: earned once.
        order = {"order_id": "REPLICA-1", "telegram_id": ann.id, "amount": "80.00"}
        answers = await asyncio.gather(
            *(_post(apis[i % 2], "/api/v1/purchases", order) for i in range(10))
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200] * 9 + [201], answers
        earned = {(body["points_earned"], body["balance"]) for _, body in answers}
        assert len(earned) == 1  # every replay answers what the first recording did
        ((points, balance),) = earned
        assert points > 0 and balance == opening + points
        assert rows(url, "SELECT COUNT(*) FROM purchases") == [(1,)]

        # One "points earned" notice, though both replicas' outbox workers poll for it.
        notice = await ann.next_message(timeout=15)
        assert "80" in notice["text"] or str(points) in notice["text"]
        await asyncio.sleep(3)  # several more polls by each worker
        assert ann.skip_messages() == 0
        assert rows(url, "SELECT COUNT(*) FROM outbox") == [(notices_before + 1,)]
        assert rows(url, "SELECT state FROM outbox ORDER BY id DESC LIMIT 1") == [("sent",)]

        # Concurrent debits through both replicas: never below zero, never lost.
        share = balance // 4
        debits = await asyncio.gather(
            *(
                _post(
                    apis[i % 2],
                    "/api/v1/points/adjust",
                    {
                        "telegram_id": ann.id,
                        "delta": -share,
                        "reason": "replica test",
                        "idempotency_key": f"DEBIT-{i}",
                    },
                )
                for i in range(10)
            )
        )
        accepted = [body for status, body in debits if status == 200]
        refused = [body for status, body in debits if status == 422]
        assert len(accepted) == 4 and len(refused) == 6, debits
        expected = balance - 4 * share
        assert await _balance(apis[0], ann.id) == expected
        assert await _balance(apis[1], ann.id) == expected
        # Each accepted debit saw the balance the previous one left: a strict chain.
        chain = sorted(((b["balance_before"], b["balance_after"]) for b in accepted), reverse=True)
        assert [before for before, _ in chain] == [balance - k * share for k in range(4)]
        check = await first.cli("points", "check")
        assert check.returncode == 0, check.stdout + check.stderr
        await elsewhere.close()
        ann.skip_messages()

        # A broadcast: both replicas run a broadcast worker; everybody gets it exactly once.
        # Done: every recipient's send was recorded after Telegram (here) took it, so a
        # duplicate would be in by now.
        await _broadcast(first, "Replica news")
        for user in (ann, *crowd):
            assert len(_received(user, "Replica news")) == 1, user.first_name

        # The sender stops: the other replica takes the role over and sends the next one.
        assert await first.stop() == 0, first.log()
        await _broadcast(second, "Second news")
        for user in (ann, *crowd):
            assert len(_received(user, "Second news")) == 1, user.first_name
    finally:
        for process in (second, first):
            if process.process is not None and process.process.returncode is None:
                assert await process.stop() == 0, process.log()
