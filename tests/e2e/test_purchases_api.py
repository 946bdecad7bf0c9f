"""The integration API over real HTTP against the running bot, with Telegram emulated."""

import asyncio

import aiohttp


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
