"""POLLING_IN_FLIGHT: a burst taken by long polling is handled a bounded number at a time."""

import asyncio

import aiohttp

from tests.e2e.harness import BotProcess

LIMIT = 3
CUSTOMERS = 15


async def test_a_burst_is_handled_at_most_polling_in_flight_updates_at_a_time(
    own_emulator, tmp_path
):
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"POLLING_IN_FLIGHT": str(LIMIT)})
    await bot.start()
    customers = [own_emulator.add_user(first_name=f"C{index}") for index in range(CUSTOMERS)]
    # Every Bot API call now takes a while, so updates taken together overlap in the bot:
    # unbounded, all of them would be in flight at once.
    own_emulator.set_latency(0.15)
    for customer in customers:
        customer.send_text("/help")
    seen: list[int] = []
    async with aiohttp.ClientSession(bot.api_url) as http:
        while not all(own_emulator.calls_to("sendMessage", chat_id=c.id) for c in customers):
            async with http.get("/healthz") as answer:
                seen.append((await answer.json())["updates_in_flight"])
            await asyncio.sleep(0.01)
    own_emulator.set_latency(0)
    assert max(seen) <= LIMIT, seen
    assert max(seen) >= 2, seen  # the burst did overlap: the bound was what held it
    assert await bot.stop() == 0
