"""A hostile till against the integration API of the running bot: reused idempotency keys,
tokens used beyond their scopes, amounts and dates past the limits, and odd input."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from tests.e2e.harness import BotProcess


async def new_customer(emulator, name):
    customer = emulator.add_user(first_name=name, language_code="en")
    customer.send_text("/start")
    await customer.next_message()
    return customer


async def post(api: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with api.post(path, json=body) as response:
        return response.status, await response.json()


async def balance(api: aiohttp.ClientSession, telegram_id: int) -> int:
    async with api.get(f"/api/v1/customers/{telegram_id}") as response:
        assert response.status == 200, await response.text()
        points: int = (await response.json())["balance"]
        return points


def conflict_fields(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body["errors"]]


async def token_session(bot: BotProcess, name: str, *scopes: str) -> aiohttp.ClientSession:
    arguments = [argument for scope in scopes for argument in ("--scope", scope)]
    result = await bot.cli("api-token", "create", name, *arguments)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    return aiohttp.ClientSession(bot.api_url, headers={"Authorization": f"Bearer {token}"})


async def test_a_refund_id_belongs_to_one_refund_of_one_order(bot, emulator, api):
    customer = await new_customer(emulator, "Rhea")
    for order_id in ("TRUST-A", "TRUST-B"):
        order = {"order_id": order_id, "telegram_id": customer.id, "amount": "40.00"}
        assert (await post(api, "/api/v1/purchases", order))[0] == 201
    before = await balance(api, customer.id)  # 50 welcome + 2 x 200

    # A till numbering refunds per order: refund "1" of order A, then refund "1" of order B.
    first = {"order_id": "TRUST-A", "amount": "10.00", "refund_id": "1"}
    status, refunded = await post(api, "/api/v1/refunds", first)
    assert status == 201 and refunded["points_reversed"] == 50
    status, body = await post(api, "/api/v1/refunds", {**first, "order_id": "TRUST-B"})
    assert status == 409, body
    assert conflict_fields(body) == ["order_id"]
    status, body = await post(api, "/api/v1/refunds", {**first, "amount": "20.00"})
    assert status == 409 and conflict_fields(body) == ["amount"]
    assert await balance(api, customer.id) == before - 50  # order B was not refunded

    # The very same refund again is a replay with the first answer, however many at once.
    replays = await asyncio.gather(*(post(api, "/api/v1/refunds", first) for _ in range(6)))
    assert {status for status, _ in replays} == {200}
    assert all(body == {**refunded, "replayed": True} for _, body in replays)
    concurrent = {"order_id": "TRUST-B", "amount": "10.00", "refund_id": "B-1"}
    answers = await asyncio.gather(*(post(api, "/api/v1/refunds", concurrent) for _ in range(6)))
    assert sorted(status for status, _ in answers) == [200] * 5 + [201]
    assert await balance(api, customer.id) == before - 100
    check = await bot.cli("points", "check")
    assert check.returncode == 0, check.stdout


async def test_an_adjustment_key_belongs_to_one_customer_and_delta(bot, emulator, api):
    ann = await new_customer(emulator, "Annika")
    ben = await new_customer(emulator, "Benedikt")
    adjust = {
        "telegram_id": ann.id,
        "delta": 30,
        "reason": "goodwill",
        "idempotency_key": "GW-1",
    }
    status, first = await post(api, "/api/v1/points/adjust", adjust)
    assert status == 200
    assert first == {
        "telegram_id": ann.id,
        "balance_before": 50,
        "balance_after": 80,
        "replayed": False,
    }
    status, body = await post(api, "/api/v1/points/adjust", {**adjust, "telegram_id": ben.id})
    assert status == 409, body
    assert conflict_fields(body) == ["telegram_id"]
    status, body = await post(api, "/api/v1/points/adjust", {**adjust, "delta": 31})
    assert status == 409 and conflict_fields(body) == ["delta"]
    assert await balance(api, ben.id) == 50  # Ben got nothing, and nobody said he did

    replays = await asyncio.gather(*(post(api, "/api/v1/points/adjust", adjust) for _ in range(6)))
    assert {status for status, _ in replays} == {200}
    assert all(body == {**first, "replayed": True} for _, body in replays)
    fresh = {**adjust, "telegram_id": ben.id, "idempotency_key": "GW-2"}
    answers = await asyncio.gather(*(post(api, "/api/v1/points/adjust", fresh) for _ in range(6)))
    assert sorted(body["replayed"] for _, body in answers) == [False] + [True] * 5
    assert await balance(api, ann.id) == 80
    assert await balance(api, ben.id) == 80


async def test_an_order_id_belongs_to_one_purchase(bot, emulator, api):
    customer = await new_customer(emulator, "Orla")
    other = await new_customer(emulator, "Otto")
    order = {
        "order_id": "TRUST-P1",
        "telegram_id": customer.id,
        "amount": "10.00",
        "purchased_at": "2026-11-30T12:00:00Z",
    }
    status, first = await post(api, "/api/v1/purchases", order)
    assert status == 201
    # A sale of another day under the same number is not this sale.
    status, body = await post(
        api, "/api/v1/purchases", {**order, "purchased_at": "2026-12-01T12:00:00Z"}
    )
    assert status == 409, body
    assert conflict_fields(body) == ["purchased_at"]
    status, body = await post(api, "/api/v1/purchases", {**order, "telegram_id": other.id})
    assert status == 409 and conflict_fields(body) == ["telegram_id"]
    # The same instant written in another zone is the same request.
    status, body = await post(
        api, "/api/v1/purchases", {**order, "purchased_at": "2026-11-30T14:00:00+02:00"}
    )
    assert status == 200 and body == {**first, "replayed": True}
    assert await balance(api, other.id) == 50


async def test_a_token_does_only_what_its_scopes_allow(bot, emulator):
    customer = await new_customer(emulator, "Scopus")
    adjust = {"telegram_id": customer.id, "delta": 5, "reason": "scope test"}
    purchase = {"order_id": "SCOPE-1", "telegram_id": customer.id, "amount": "10.00"}
    till = await token_session(bot, "purchases-only", "purchases")
    default = await token_session(bot, "default-till")
    try:
        status, body = await post(till, "/api/v1/points/adjust", adjust)
        assert status == 403, body
        assert "points:adjust" in body["error"]
        assert (await post(till, "/api/v1/refunds", {"order_id": "SCOPE-1"}))[0] == 403
        async with till.get(f"/api/v1/customers/{customer.id}") as response:
            assert response.status == 403
            assert "customers:read" in (await response.json())["error"]
        assert (await post(till, "/api/v1/purchases", purchase))[0] == 201

        # Without --scope: what a till needs, and no hand-made points.
        assert (await post(default, "/api/v1/purchases", purchase))[0] == 200
        assert (await post(default, "/api/v1/points/adjust", adjust))[0] == 403
        assert await balance(default, customer.id) == 100
    finally:
        await till.close()
        await default.close()

    refused = await bot.cli("api-token", "create", "typo", "--scope", "points:adjsut")
    assert refused.returncode != 0
    for scope in ("purchases", "refunds", "customers:read", "points:adjust"):
        assert scope in refused.stderr
    listing = await bot.cli("api-token", "list")
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert lines["purchases-only"].endswith("scopes purchases")
    assert lines["default-till"].endswith("scopes purchases refunds customers:read")
    assert "typo" not in lines


async def test_amounts_dates_and_adjustments_past_the_limits_are_refused(bot, emulator, api):
    customer = await new_customer(emulator, "Limes")
    order = {"order_id": "LIMIT-1", "telegram_id": customer.id, "amount": "9999999999.99"}
    status, body = await post(api, "/api/v1/purchases", order)
    assert status == 422, body
    assert conflict_fields(body) == ["amount"]
    old = {**order, "amount": "10.00", "purchased_at": "1900-01-01T00:00:00Z"}
    status, body = await post(api, "/api/v1/purchases", old)
    assert status == 422 and conflict_fields(body) == ["purchased_at"]
    adjust = {"telegram_id": customer.id, "delta": 100_001, "reason": "fat finger"}
    status, body = await post(api, "/api/v1/points/adjust", adjust)
    assert status == 422 and conflict_fields(body) == ["delta"]
    status, body = await post(api, "/api/v1/points/adjust", {**adjust, "delta": -100_001})
    assert status == 422 and conflict_fields(body) == ["delta"]
    # At the limits themselves: accepted.
    assert (await post(api, "/api/v1/purchases", {**order, "amount": "100000.00"}))[0] == 201
    async with api.get("/api/v1/openapi.json") as response:
        spec = await response.json()
    amount = spec["components"]["schemas"]["PurchaseIn"]["properties"]["amount"]
    assert {"exclusiveMinimum": 0.0, "type": "number", "maximum": 100000.0} in amount["anyOf"]
    adjust_responses = spec["paths"]["/api/v1/points/adjust"]["post"]["responses"]
    assert {"200", "401", "403", "409", "413", "422"} <= set(adjust_responses)


async def test_odd_input_gets_422_never_500(bot, emulator, api):
    # What the bot logs from here on: the shared bot's log also holds other modules' scenarios
    # (some make Telegram fail on purpose), in whatever order this worker ran them.
    log_before = len(bot.log())
    customer = await new_customer(emulator, "Oddny")
    order = {"order_id": "ODD-1", "telegram_id": customer.id, "amount": "10.00"}
    adjust = {"telegram_id": customer.id, "delta": 5, "reason": "odd input"}
    odd_orders = {
        "telegram_id": [{**order, "telegram_id": "²"}, {**order, "telegram_id": 2**63}],
        "amount": [{**order, "amount": "²"}, {**order, "amount": "١٠"}],
        "card": [{"order_id": "ODD-1", "card": "١٢٣٤٥٦٧٨٩٠١٢", "amount": "10.00"}],
    }
    for field, bodies in odd_orders.items():
        for body in bodies:
            status, answer = await post(api, "/api/v1/purchases", body)
            assert status == 422, (body, answer)
            assert conflict_fields(answer) == [field], answer
    for body in ({**adjust, "telegram_id": 2**63}, {**adjust, "delta": "²"}):
        status, answer = await post(api, "/api/v1/points/adjust", body)
        assert status == 422, (body, answer)
    for raw in (b"[]", json.dumps([order]).encode(), b'"order"', b"1", b"null"):
        async with api.post("/api/v1/purchases", data=raw) as response:
            answer = await response.json()
            assert response.status == 422, (raw, answer)
            assert conflict_fields(answer) == ["body"]
    # 30,000 levels fit in 64 KiB; 100,000 do not, and the size is refused first.
    for depth, expected in ((30_000, 422), (100_000, 413)):
        nested = b"[" * depth + b"]" * depth
        for path in ("/api/v1/purchases", "/api/v1/refunds", "/api/v1/points/adjust"):
            async with api.post(path, data=nested) as response:
                assert response.status == expected, await response.text()
    for raw_id in ("²", "١٢", "9" * 30, str(2**63)):
        async with api.get(f"/api/v1/customers/{raw_id}") as response:
            assert response.status == 422, (raw_id, await response.text())
            assert conflict_fields(await response.json()) == ["telegram_id"]
    async with api.get(f"/api/v1/customers/{2**63 - 1}") as response:
        assert response.status == 404
    assert "Traceback" not in bot.log()[log_before:]


async def test_the_api_keeps_its_64_kib_limit(bot, api):
    padding = "x" * (100 * 1024)
    body = {"order_id": "BIG-1", "telegram_id": 1, "amount": "1.00", "note": padding}
    async with api.post("/api/v1/purchases", json=body) as response:
        assert response.status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length to go by
        yield json.dumps(body).encode()

    async with api.post("/api/v1/purchases", data=chunks()) as response:
        assert response.status == 413
