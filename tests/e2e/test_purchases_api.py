"""The integration API over real HTTP against the running bot, with Telegram emulated."""

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp

from tests import databases


async def test_purchase_needs_a_token_and_valid_input(bot, emulator, api):
    customer = emulator.add_user(first_name="Pavel", language_code="en")
    customer.send_text("/start")
    await customer.next_message()
    order = {"order_id": "API-1", "telegram_id": customer.id, "amount": "20.00"}
    async with aiohttp.ClientSession(bot.api_url) as anonymous:
        async with anonymous.post("/api/v1/purchases", json=order) as response:
            assert response.status == 401
        async with anonymous.post(
            "/api/v1/purchases", json=order, headers={"Authorization": "Bearer lsb_wrong"}
        ) as response:
            assert response.status == 401
        async with anonymous.get("/healthz") as response:
            assert response.status == 200
        async with anonymous.get("/api/v1/openapi.json") as response:
            spec = await response.json()
            assert "/api/v1/purchases" in spec["paths"]
    async with api.post("/api/v1/purchases", json={**order, "amount": "-5"}) as response:
        assert response.status == 422
        body = await response.json()
        assert [error["field"] for error in body["errors"]] == ["amount"]
    async with api.post(
        "/api/v1/purchases", json={**order, "telegram_id": 1, "order_id": "API-x"}
    ) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == "telegram_id"
    async with api.post(
        "/api/v1/purchases", json={**order, "purchased_at": "yesterday"}
    ) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == "purchased_at"

    async def post() -> tuple[int, dict[str, object]]:
        async with api.post("/api/v1/purchases", json=order) as response:
            return response.status, await response.json()

    results = await asyncio.gather(*(post() for _ in range(9)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 8 + [201]
    assert {body["points_earned"] for _, body in results} == {100}
    assert {body["balance"] for _, body in results} == {150}  # welcome 50 + 100
    notice = await customer.next_message()
    assert "+100" in notice["text"]
    assert "150" in notice["text"]
    async with api.get(f"/api/v1/customers/{customer.id}") as response:
        assert response.status == 200
        profile = await response.json()
    assert profile["balance"] == 150
    assert profile["tier"]["id"] == "bronze"
    assert len(profile["card"]) == 12


async def new_customer(emulator, name):
    customer = emulator.add_user(first_name=name, language_code="en")
    customer.send_text("/start")
    await customer.next_message()
    return customer


async def test_refunds_reverse_points_in_proportion_and_replay(bot, emulator, api):
    customer = await new_customer(emulator, "Rosa")
    order = {"order_id": "REF-1", "telegram_id": customer.id, "amount": "40.00"}
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201
        assert (await response.json())["points_earned"] == 200
    await customer.next_message()  # the points-earned notice
    part = {"order_id": "REF-1", "amount": "10.00"}
    async with api.post("/api/v1/refunds", json=part) as response:
        assert response.status == 201
        body = await response.json()
    assert (body["points_reversed"], body["balance"]) == (50, 200)
    async with api.post("/api/v1/refunds", json=part) as response:
        assert response.status == 200  # the same partial refund again: a replay
        assert (await response.json())["balance"] == 200
    notice = await customer.next_message()
    assert "50" in notice["text"] and "REF-1" in notice["text"]
    async with api.post("/api/v1/refunds", json={"order_id": "REF-1", "amount": "99.00"}) as rsp:
        assert rsp.status == 422
        assert (await rsp.json())["errors"][0]["field"] == "amount"
    async with api.post("/api/v1/refunds", json={"order_id": "REF-1"}) as response:
        assert response.status == 201
        assert (await response.json())["points_reversed"] == 150
    async with api.post("/api/v1/refunds", json={"order_id": "NO-SUCH"}) as response:
        assert response.status == 404
    async with api.get(f"/api/v1/customers/{customer.id}") as response:
        assert (await response.json())["balance"] == 50  # the welcome bonus stays


async def test_bad_requests_get_clear_answers(bot, emulator, api):
    customer = await new_customer(emulator, "Bob")
    async with api.post("/api/v1/purchases", data=b"{not json") as response:
        assert response.status == 400
        assert "JSON" in (await response.json())["error"]
    async with api.post(
        "/api/v1/purchases", json={"order_id": "X-1", "amount": "5.00"}
    ) as response:
        assert response.status == 422  # neither telegram_id nor card
    async with api.post(
        "/api/v1/purchases",
        json={"order_id": "X-2", "telegram_id": customer.id, "amount": "5.00", "currency": "USD"},
    ) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == "currency"
    async with api.post(
        "/api/v1/purchases",
        json={"order_id": "X-3", "telegram_id": customer.id, "amount": "5.001"},
    ) as response:
        assert response.status == 422
    first = {"order_id": "X-4", "telegram_id": customer.id, "amount": "5.00"}
    async with api.post("/api/v1/purchases", json=first) as response:
        assert response.status == 201
    async with api.post("/api/v1/purchases", json={**first, "amount": "6.00"}) as response:
        assert response.status == 409  # the same order id for another amount
    async with api.get("/api/v1/customers/123") as response:
        assert response.status == 404
    async with api.get("/api/v1/customers/abc") as response:
        assert response.status == 422


async def test_backdated_purchase_counts_from_its_date(bot, emulator, api):
    customer = await new_customer(emulator, "Till")
    order = {
        "order_id": "OFFLINE-1",
        "telegram_id": customer.id,
        "amount": "10.00",
        "purchased_at": "2026-01-15T10:00:00+02:00",
    }
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201
        assert (await response.json())["purchased_at"].startswith("2026-01-15T08:00:00")
    future = {**order, "order_id": "FUTURE-1", "purchased_at": "2099-01-01T00:00:00Z"}
    async with api.post("/api/v1/purchases", json=future) as response:
        assert response.status == 422
    # Points burn 365 days after the purchase: a sale synced 350 days late burns in 15 days.
    synced_late = datetime.now(UTC) - timedelta(days=350)
    late = {**order, "order_id": "OFFLINE-2", "amount": "30.00"}
    async with api.post(
        "/api/v1/purchases", json={**late, "purchased_at": synced_late.isoformat()}
    ) as response:
        assert response.status == 201
    async with api.get(f"/api/v1/customers/{customer.id}") as response:
        expiring = (await response.json())["expiring_soon"]
    assert [item["points"] for item in expiring] == [150]
    burns = datetime.fromisoformat(expiring[0]["expires_at"])
    assert abs(burns - (synced_late + timedelta(days=365))) < timedelta(seconds=1)


async def test_adjustments_are_audited_and_never_overdraw(bot, emulator, api):
    customer = await new_customer(emulator, "Ada")
    adjust = {"telegram_id": customer.id, "delta": 25, "reason": "goodwill for a late order"}
    async with api.post("/api/v1/points/adjust", json=adjust) as response:
        assert response.status == 200
        assert await response.json() == {
            "telegram_id": customer.id,
            "balance_before": 50,
            "balance_after": 75,
            "replayed": False,
        }
    notice = await customer.next_message()
    assert "goodwill for a late order" in notice["text"]
    async with api.post("/api/v1/points/adjust", json={**adjust, "delta": -100}) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == "delta"
    async with api.post("/api/v1/points/adjust", json={**adjust, "delta": 0}) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == "delta"
    audit = await bot.cli("audit", "--json")
    entries = [line for line in audit.stdout.splitlines() if "points.adjust" in line]
    assert any(f"customer:{customer.id}" in line and '"balance": 75' in line for line in entries)
    check = await bot.cli("points", "check")
    assert check.returncode == 0, check.stdout


async def test_revoked_tokens_stop_working_and_are_never_listed(bot):
    created = await bot.cli("api-token", "create", "short-lived")
    token = created.stdout.strip()
    listing = await bot.cli("api-token", "list")
    assert "short-lived" in listing.stdout
    assert token not in listing.stdout
    duplicate = await bot.cli("api-token", "create", "short-lived")
    assert duplicate.returncode == 1
    revoked = await bot.cli("api-token", "revoke", "short-lived")
    assert revoked.returncode == 0
    async with (
        aiohttp.ClientSession(bot.api_url, headers={"Authorization": f"Bearer {token}"}) as session,
        session.get("/api/v1/customers/1") as response,
    ):
        assert response.status == 401
    assert token not in bot.log()


async def test_a_purchase_by_a_customer_who_blocked_the_bot_still_counts(bot, emulator, api):
    customer = await new_customer(emulator, "Gone")
    customer.block_bot()
    emulator.fail_next("sendMessage", 429, retry_after=1)  # and Telegram is busy, too
    order = {"order_id": "BLOCKED-1", "telegram_id": customer.id, "amount": "10.00"}
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201
        assert (await response.json())["balance"] == 100

    def refused() -> bool:
        return any(
            call.method == "sendMessage"
            and call.params.get("chat_id") == customer.id
            and call.error_code == 403
            for call in emulator.calls
        )

    await emulator.wait_for(refused, timeout=10)
    record = await bot.customer(customer.id)
    assert record["reachable"] is False
    states = databases.rows(
        bot.database_url,
        "SELECT o.state, o.error FROM outbox o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.telegram_id = ?",
        (customer.id,),
    )
    assert states == [("failed", "blocked")]  # given up on, not retried forever


async def test_concurrent_deductions_never_overdraw(bot, emulator, api):
    customer = await new_customer(emulator, "Quick")  # 50 welcome points
    async with api.post(
        "/api/v1/purchases",
        json={"order_id": "RACE-1", "telegram_id": customer.id, "amount": "1.00"},
    ) as response:
        assert (await response.json())["balance"] == 55

    async def deduct(number: int) -> int:
        body = {"telegram_id": customer.id, "delta": -20, "reason": f"race {number}"}
        async with api.post("/api/v1/points/adjust", json=body) as response:
            status: int = response.status
            return status

    statuses = await asyncio.gather(*(deduct(number) for number in range(6)))
    assert sorted(statuses) == [200, 200, 422, 422, 422, 422]
    async with api.get(f"/api/v1/customers/{customer.id}") as response:
        assert (await response.json())["balance"] == 15
