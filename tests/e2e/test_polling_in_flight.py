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


async def test_updates_waiting_for_their_customers_earlier_ones_do_not_hold_others_back(
    own_emulator, tmp_path
):
    """One customer's eight messages, then two others' one each: the eight are handled one
    after another, and the other two are served beside them, not after most of them (with the
    waiting counted as in flight, the other two would start only after the sixth)."""
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"POLLING_IN_FLIGHT": str(LIMIT)})
    await bot.start()
    chatty, *others = [own_emulator.add_user(first_name=f"C{index}") for index in range(3)]
    own_emulator.set_latency(0.1)
    for _ in range(8):
        chatty.send_text("/help")
    for customer in others:
        customer.send_text("/help")

    def answered() -> bool:
        return len(own_emulator.calls_to("sendMessage", chat_id=chatty.id)) >= 8 and all(
            own_emulator.calls_to("sendMessage", chat_id=customer.id) for customer in others
        )

    await own_emulator.wait_for(answered, timeout=30)
    own_emulator.set_latency(0)
    chatty_answers = [call.at for call in own_emulator.calls_to("sendMessage", chat_id=chatty.id)]
    for customer in others:
        (answer,) = own_emulator.calls_to("sendMessage", chat_id=customer.id)
        assert answer.at < chatty_answers[2], (answer.at, chatty_answers)
    assert await bot.stop() == 0


async def test_no_more_updates_are_taken_from_telegram_than_polling_held(own_emulator, tmp_path):
    held = 4
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"POLLING_HELD": str(held)})
    await bot.start()
    customers = [own_emulator.add_user(first_name=f"C{index}") for index in range(12)]
    own_emulator.set_latency(0.05)
    for customer in customers:
        customer.send_text("/help")
        customer.send_text("/help")
    await own_emulator.wait_for(
        lambda: all(
            len(own_emulator.calls_to("sendMessage", chat_id=c.id)) >= 2 for c in customers
        ),
        timeout=30,
    )
    own_emulator.set_latency(0)
    # An update is finished only after its answer was sent, so taken minus answered is at
    # most what the bot held unfinished when it asked for more.
    answers = sorted(
        call.at
        for customer in customers
        for call in own_emulator.calls_to("sendMessage", chat_id=customer.id)
    )
    taken = 0
    polls = [call for call in own_emulator.calls_to("getUpdates") if call.result]
    assert sum(len(call.result) for call in polls) >= 24
    for call in polls:
        taken += len(call.result)
        answered_before = sum(1 for at in answers if at < call.at)
        assert call.params.get("limit", 100) <= held
        assert taken - answered_before <= held, (taken, answered_before)
    assert await bot.stop() == 0
