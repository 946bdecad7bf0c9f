"""Rewards, redemption codes and the till, as customers, cashiers and an admin meet them.

The bundled rules: coffee 150 points, dessert 300, tote 800; 5 % back in points (0.01 EUR a
point); points pay at most 50 % of a sale; codes are valid 15 minutes (their expiry is
covered in tests/integration/test_redemptions.py with a clock the test controls)."""

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from bot.telegram.callbacks import (
    CancelCode,
    ConfirmCode,
    ConfirmSale,
    KeepCode,
    PickReward,
    ShowRewards,
    StopUsingPoints,
    UsePoints,
)
from bot.telegram.qr import qr_png, start_link
from tests.e2e.harness import buttons, press, settled

CODE = re.compile(r"(\d{4}) (\d{4})")


async def profile(api, user):
    async with api.get(f"/api/v1/customers/{user.id}") as response:
        assert response.status == 200
        return await response.json()


async def customer_with_points(emulator, api, name, amount):
    """A customer who opened the bot (50 welcome points) and bought for `amount` EUR."""
    user = emulator.add_user(first_name=name, language_code="en")
    user.send_text("/start")
    await user.next_message()
    order = {"order_id": f"shop-{uuid.uuid4().hex}", "telegram_id": user.id, "amount": amount}
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201, await response.text()
    assert "points for your purchase" in (await user.next_message())["text"]
    return user


async def cashier(emulator, admin, name):
    user = emulator.add_user(first_name=name, language_code="en")
    admin.send_text(f"/grant cashier {user.id}")
    assert (await admin.next_message())["text"] == f"{user.id} is now cashier."
    return user


async def open_code(emulator, user, reward="coffee"):
    """The customer asks for a reward's code; returns (code, the photo message)."""
    user.send_text("/rewards")
    catalogue = await user.next_message()
    await press(emulator, user, catalogue, PickReward(reward_id=reward).pack())
    photo = await user.next_message()
    return "".join(CODE.search(photo["caption"]).groups()), photo


async def audit(bot, actor):
    result = await bot.cli("audit", "--actor", str(actor), "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def test_a_customer_gets_a_code_and_a_cashier_confirms_it_once(bot, emulator, admin, api):
    rita = await customer_with_points(emulator, api, "Rita", "60.00")  # 50 + 300 points
    rita.send_text("/rewards")
    catalogue = await rita.next_message()
    assert "Your balance: 350 points." in catalogue["text"]
    labels = buttons(catalogue)
    assert labels["Any coffee — 150"] == PickReward(reward_id="coffee").pack()
    assert labels["A dessert of your choice — 300"] == PickReward(reward_id="dessert").pack()
    assert labels["🔒 Branded tote bag — 800"] == PickReward(reward_id="tote").pack()
    assert labels["💰 Use points"] == UsePoints().pack()

    answer, _ = await press(emulator, rita, catalogue, PickReward(reward_id="tote").pack())
    assert answer["text"] == "You need 450 more points for this reward (you have 350)."
    answer, _ = await press(
        emulator, rita, catalogue, PickReward(reward_id="yacht").pack(), forge=True
    )
    assert answer["text"] == "This reward is no longer offered."
    assert (await profile(api, rita))["balance"] == 350

    await press(emulator, rita, catalogue, PickReward(reward_id="coffee").pack())
    photo = await rita.next_message()
    caption = photo["caption"]
    code = "".join(CODE.search(caption).groups())
    assert "For: Any coffee (150 points)" in caption
    # A code made near midnight expires the next day: then its date is shown too.
    valid_until = r"Valid until (\d{4}-\d\d-\d\d )?\d\d:\d\d\. Show this to the cashier"
    assert re.search(valid_until, caption)
    assert "Balance after this code: 200 points." in caption
    file = emulator.world.files.get(photo["photo"][-1]["file_id"])
    assert file.data == qr_png(start_link("loyalty_test_bot", f"redeem_{code}"))
    assert set(buttons(photo)) == {"✖️ Cancel code"}
    assert (await profile(api, rita))["balance"] == 200  # reserved at once

    # The menu entry opens the same catalogue, now listing the open code.
    rita.press_reply_button("🎁 Rewards")
    listing = (await rita.next_message())["text"]
    assert "Your balance: 200 points." in listing
    assert f"{code[:4]} {code[4:]} — Any coffee (150 points), valid until" in listing

    carl = await cashier(emulator, admin, "Carl")
    carl.send_text(f"/redeem {code}")
    screen = await carl.next_message()
    assert "Customer: Rita" in screen["text"] and "For: Any coffee (150 points)" in screen["text"]
    assert set(buttons(screen)) == {"✅ Confirm", "✖️ Cancel"}
    _, screen = await press(emulator, carl, screen, buttons(screen)["✅ Confirm"])
    assert screen["text"] == "✅ Confirmed: give Rita Any coffee."
    assert "reply_markup" not in screen
    told = await rita.next_message()
    assert told["text"] == (
        f"✅ Your code {code[:4]} {code[4:]} was used: Any coffee (150 points).\n"
        "Balance: 200 points."
    )

    # Other screens open the catalogue with a ShowRewards button.
    await press(emulator, rita, told, ShowRewards().pack(), forge=True)
    assert "Your balance: 200 points." in (await rita.next_message())["text"]

    carl.send_text(f"/redeem {code[:4]} {code[4:]}")
    assert re.fullmatch(
        rf"❌ Code {code[:4]} {code[4:]} was already used at \d\d:\d\d\.",
        (await carl.next_message())["text"],
    )
    answer, _ = await press(emulator, rita, photo, buttons(photo)["✖️ Cancel code"])
    assert answer["text"].startswith("This code was already used at")
    assert (await profile(api, rita))["balance"] == 200
    carl.send_text("/redeem 1000000")
    assert "Usage: /redeem CODE" in (await carl.next_message())["text"]

    entries = await audit(bot, carl.id)
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("redemption.confirm", f"redemption:{code}")
    ]
    assert entries[0]["after"]["customer"] == rita.id


async def test_two_cashiers_pressing_confirm_at_once_one_wins(bot, emulator, admin, api):
    sam = await customer_with_points(emulator, api, "Sam", "20.00")  # 150 points
    code, _photo = await open_code(emulator, sam)
    dina = await cashier(emulator, admin, "Dina")
    screens = []
    for person in (dina, admin):
        person.send_text(f"/redeem {code}")
        screens.append(await person.next_message())
    data = ConfirmCode(code=code, amount=0).pack()
    queries = [
        person.press(screen, data) for person, screen in zip((dina, admin), screens, strict=True)
    ]
    await emulator.wait_for(lambda: all(emulator.callback_answer(q) for q in queries))
    outcomes = sorted(
        person.chat.get(screen["message_id"]).payload["text"]
        for person, screen in zip((dina, admin), screens, strict=True)
    )
    assert outcomes[0] == "✅ Confirmed: give Sam Any coffee."
    assert re.fullmatch(r"❌ Code \d{4} \d{4} was already used at \d\d:\d\d\.", outcomes[1])
    assert "was used" in (await sam.next_message())["text"]
    await settled(bot)
    assert sam.skip_messages() == 0  # told once
    assert (await profile(api, sam))["balance"] == 0


async def test_points_against_a_sale_within_the_share(bot, emulator, admin, api):
    una = await customer_with_points(emulator, api, "Una", "40.00")  # 250 points
    una.send_text("/rewards")
    catalogue = await una.next_message()
    await press(emulator, una, catalogue, UsePoints().pack())
    question = await una.next_message()
    assert "How many points do you want to use? You have 250" in question["text"]
    for _tap in range(2):  # a double tap on Cancel
        _, question = await press(emulator, una, question, StopUsingPoints().pack(), forge=True)
        assert question["text"] == "OK, no points were reserved."
    una.send_text("100")  # the question is closed: plain text goes to the FAQ as always
    assert "browse the FAQ" in (await una.next_message())["text"]
    await press(emulator, una, catalogue, UsePoints().pack())
    await una.next_message()
    una.send_sticker()
    assert (await una.next_message())["text"] == (
        "Please type the number of points in digits, e.g. 100."
    )
    for wrong in ("abc", "0", "-5", "1.5"):
        una.send_text(wrong)
        assert "whole number" in (await una.next_message())["text"], wrong
    una.send_text("9999")
    assert (await una.next_message())["text"] == "You have 250 points; send a number up to that."
    una.send_text("100")
    photo = await una.next_message()
    code = "".join(CODE.search(photo["caption"]).groups())
    assert "For: 100 points off a purchase (worth €1.00)" in photo["caption"]
    una.send_text("100")  # the question is closed: plain text goes to the FAQ as always
    assert "browse the FAQ" in (await una.next_message())["text"]

    vic = await cashier(emulator, admin, "Vic")
    vic.send_text(f"/start redeem_{code}")  # the scanned QR code
    screen = await vic.next_message()
    assert "Customer: Una" in screen["text"]
    assert screen["text"].endswith("What is the sale amount? Type it like 12.50:")
    vic.send_sticker()
    assert (await vic.next_message())["text"] == "Please type the amount, e.g. 12.50."
    vic.send_text("1,50")
    assert "the sale must be at least €2.00" in (await vic.next_message())["text"]
    vic.send_text("2.00")
    screen = await vic.next_message()
    assert "Sale: €2.00; points pay €1.00; the customer pays €1.00." in screen["text"]
    assert buttons(screen)["✅ Confirm"] == ConfirmCode(code=code, amount=200).pack()
    # A forged smaller sale is refused by the service, whatever the button says.
    answer, forged = await press(
        emulator, vic, screen, ConfirmCode(code=code, amount=150).pack(), forge=True
    )
    assert "must be at least €2.00" in forged["text"]
    vic.send_text(f"/redeem {code} 2")
    screen = await vic.next_message()
    _, screen = await press(emulator, vic, screen, buttons(screen)["✅ Confirm"])
    assert screen["text"] == "✅ Confirmed: 100 points pay €1.00 of €2.00; Una pays €1.00."
    told = (await una.next_message())["text"]
    assert "was used: 100 points off a purchase (worth €1.00)" in told
    assert "Balance: 150 points." in told

    # Anyone else scanning it is just starting the bot.
    walt = emulator.add_user(first_name="Walt", language_code="en")
    walt.send_text(f"/start redeem_{code}")
    assert (await walt.next_message())["text"].startswith("Hi, Walt!")


async def test_a_customer_cancels_a_code_and_gets_the_points_back(bot, emulator, admin, api):
    xena = await customer_with_points(emulator, api, "Xena", "20.00")  # 150 points
    code, photo = await open_code(emulator, xena)
    assert (await profile(api, xena))["balance"] == 0
    # Someone else's code id, pressed from a forged button: nothing changes.
    yuri = await customer_with_points(emulator, api, "Yuri", "20.00")
    _yuri_code, yuri_photo = await open_code(emulator, yuri)
    xena_id = int(buttons(photo)["✖️ Cancel code"].split(":")[1])
    answer, _ = await press(
        emulator, yuri, yuri_photo, CancelCode(redemption_id=xena_id).pack(), forge=True
    )
    assert answer["text"] == "This button is no longer active."
    assert (await profile(api, xena))["balance"] == 0

    answer, photo = await press(emulator, xena, photo, buttons(photo)["✖️ Cancel code"])
    assert answer["text"] == "Code cancelled."
    assert photo["caption"] == (
        f"✖️ Code {code[:4]} {code[4:]} is cancelled: 150 points are back. Balance: 150 points."
    )
    assert (await profile(api, xena))["balance"] == 150
    zoe = await cashier(emulator, admin, "Zoe")
    zoe.send_text(f"/redeem {code}")
    assert "was cancelled by the customer at" in (await zoe.next_message())["text"]


async def test_points_held_by_a_code_while_their_lot_burnt_come_back_expired(bot, emulator, api):
    """The attack: hold points about to burn in a code, let their date pass, cancel the code.
    They must burn as they would have, not return as a fresh lot of a year."""
    vera = emulator.add_user(first_name="Vera", language_code="en")
    vera.send_text("/start")
    await vera.next_message()  # 50 welcome points, for a year
    # A till syncing late: a sale whose 150 points burn (a year after it) in a few seconds.
    burns_at = datetime.now(UTC) + timedelta(seconds=4)
    order = {
        "order_id": f"late-{uuid.uuid4().hex}",
        "telegram_id": vera.id,
        "amount": "30.00",
        "purchased_at": (burns_at - timedelta(days=365)).isoformat(),
    }
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201, await response.text()
    assert "+150 points" in (await vera.next_message())["text"]
    code, photo = await open_code(emulator, vera)  # the 150 that burn first
    assert (await profile(api, vera))["balance"] == 50
    while datetime.now(UTC) <= burns_at:  # the lot's date passes while the code holds it
        await asyncio.sleep(0.1)

    answer, photo = await press(emulator, vera, photo, buttons(photo)["✖️ Cancel code"])
    assert answer["text"] == "Code cancelled."
    assert photo["caption"] == (
        f"✖️ Code {code[:4]} {code[4:]} is cancelled: 0 points are back, and 150 burnt, as "
        "their time ran out while the code held them. Balance: 50 points."
    )
    assert (await profile(api, vera))["balance"] == 50  # no new lot of a year
    vera.send_text("/points")
    movements = (await vera.next_message())["text"]
    assert "−150 · Expired · " in movements
    assert "+150 · Returned from a cancelled redemption · " in movements
    check = await bot.cli("points", "check")
    assert check.returncode == 0, check.stdout + check.stderr


async def test_non_cashiers_are_refused_and_forged_buttons_change_nothing(
    bot, emulator, admin, api
):
    ola = await customer_with_points(emulator, api, "Ola", "20.00")
    code, _photo = await open_code(emulator, ola)
    card = (await profile(api, ola))["card"]
    nick = emulator.add_user(first_name="Nick", language_code="en")
    nick.send_text(f"/redeem {code}")
    assert (await nick.next_message())["text"] == "Sorry, /redeem is for cashiers only."
    nick.send_text(f"/sale {card} 10")
    assert (await nick.next_message())["text"] == "Sorry, /sale is for cashiers only."
    nick.send_text(f"/start card_{card}")
    assert (await nick.next_message())["text"].startswith("Hi, Nick!")
    nick.send_text("/help")
    assert "/rewards" in (text := (await nick.next_message())["text"])
    assert "For cashiers" not in text
    for data in (
        ConfirmCode(code=code, amount=0).pack(),
        ConfirmSale(card=card, amount=100000, ref=uuid.uuid4().hex).pack(),
    ):
        answer, _ = await press(emulator, nick, _photo_of(nick), data, forge=True)
        assert answer["text"] == "This button is no longer active."
    assert (await profile(api, ola))["balance"] == 0
    await settled(bot)
    assert ola.skip_messages() == 0  # no "your code was used"

    refusals = [e for e in await audit(bot, nick.id) if e["action"] == "refused"]
    assert [e["subject"] for e in refusals] == ["/redeem", "/sale"]

    # The code is still good for a real cashier.
    pia = await cashier(emulator, admin, "Pia")
    pia.send_text(f"/redeem {code}")
    screen = await pia.next_message()
    for _tap in range(2):  # a double tap on Cancel: the code stays open, no error
        _, kept = await press(emulator, pia, screen, KeepCode(code=code).pack(), forge=True)
        assert kept["text"] == "Not confirmed: the code stays valid for the customer."
    pia.send_text(f"/redeem {code}")
    screen = await pia.next_message()
    _, screen = await press(emulator, pia, screen, buttons(screen)["✅ Confirm"])
    assert screen["text"] == "✅ Confirmed: give Ola Any coffee."


def _photo_of(user):
    """Any message in the user's chat to hang a forged button press on."""
    return user.messages[-1]


async def test_a_cashier_records_a_sale_by_card(bot, emulator, admin, api):
    quinn = await customer_with_points(emulator, api, "Quinn", "20.00")  # 150 points
    card = (await profile(api, quinn))["card"]
    ron = await cashier(emulator, admin, "Ron")
    ron.send_text("/sale")
    assert "card number" in (await ron.next_message())["text"]
    ron.send_sticker()
    assert (await ron.next_message())["text"] == "Please type the digits."
    ron.send_text("1234")
    assert (await ron.next_message())["text"].startswith("Please check the digits")
    typo = card[:-1] + str((int(card[-1]) + 1) % 10)
    ron.send_text(typo)
    assert (await ron.next_message())["text"].startswith("Please check the digits")
    ron.send_text(f"{card[:4]} {card[4:8]} {card[8:]}")
    assert (await ron.next_message())["text"] == "🧾 Sale to Quinn. Type the amount, e.g. 12.50:"
    for wrong in ("abc", "0", "-3", "1000000"):
        ron.send_text(wrong)
        assert (await ron.next_message())["text"].startswith("Please type the amount like 12.50")
    ron.send_text("12,50")
    screen = await ron.next_message()
    assert screen["text"] == (f"🧾 Sale to Quinn (card {card})\nAmount: €12.50\nPoints to earn: 62")
    confirm = buttons(screen)["✅ Confirm"]
    _, done = await press(emulator, ron, screen, confirm)
    assert (
        done["text"]
        == "✅ Sale recorded: €12.50 for Quinn, +62 points.\nTheir balance: 212 points."
    )
    assert "+62 points for your purchase of €12.50" in (await quinn.next_message())["text"]
    assert (await profile(api, quinn))["balance"] == 212
    # The same press again (a retry): recorded once.
    _, again = await press(emulator, ron, done, confirm, forge=True)
    assert again["text"].startswith("This sale was recorded already: €12.50 for Quinn")
    # Forged: the same order with another amount, or an amount no till would take.
    reference = ConfirmSale.unpack(confirm).ref
    for amount in (99999, 0):
        forged = ConfirmSale(card=card, amount=amount, ref=reference).pack()
        answer, _ = await press(emulator, ron, done, forged, forge=True)
        assert answer["text"] == "This button is no longer active."
    assert (await profile(api, quinn))["balance"] == 212

    ron.send_text(f"/sale {card} 20")
    screen = await ron.next_message()
    assert "Points to earn: 100" in screen["text"]
    _, dropped = await press(emulator, ron, screen, buttons(screen)["✖️ Cancel"])
    assert dropped["text"] == "Sale cancelled: nothing was recorded."
    ron.send_text(f"/sale {typo} 20")
    assert (await ron.next_message())["text"].startswith("Please check the digits")

    ron.send_text(f"/start card_{card}")  # the customer's card QR, scanned
    assert (await ron.next_message())["text"] == "🧾 Sale to Quinn. Type the amount, e.g. 12.50:"
    ron.send_text("/help")  # a command mid-question is that command, and leaves the question
    assert "For cashiers:\n/sale" in (await ron.next_message())["text"]
    ron.send_text("5")  # no longer the sale's amount
    assert "Points to earn" not in (await ron.next_message())["text"]
    await settled(bot)
    assert (await profile(api, quinn))["balance"] == 212

    entries = [e for e in await audit(bot, ron.id) if e["action"] == "sale.record"]
    assert len(entries) == 1
    assert entries[0]["subject"] == f"customer:{quinn.id}"
    assert entries[0]["after"]["order_id"].startswith(f"till-{ron.id}-")
    assert entries[0]["after"]["points"] == 62


async def test_the_catalogue_speaks_the_customers_language(bot, emulator):
    lena = emulator.add_user(first_name="Лена", language_code="ru")
    lena.send_text("/start")
    await lena.next_message()
    lena.press_reply_button("🎁 Награды")
    catalogue = await lena.next_message()
    assert catalogue["text"].startswith("🎁 Награды\nУ вас баллов: 50.")
    assert "🔒 Любой кофе — 150" in buttons(catalogue)
    answer, _ = await press(emulator, lena, catalogue, PickReward(reward_id="coffee").pack())
    assert answer["text"] == "Для этой награды не хватает баллов: 100 (у вас 50)."
    await press(emulator, lena, catalogue, UsePoints().pack())
    assert "Сколько баллов вы хотите использовать?" in (await lena.next_message())["text"]
    lena.send_text("50")
    photo = await lena.next_message()
    assert "На что: скидка 0,50\xa0€ баллами (50)" in photo["caption"]
    assert "Покажите его кассиру" in photo["caption"]


async def test_a_cashier_moves_points_only_through_a_sale(bot, emulator, admin, api):
    tess = await customer_with_points(emulator, api, "Tess", "10.00")  # 100 points
    card = (await profile(api, tess))["card"]
    vic = await cashier(emulator, admin, "Vic")
    # Agents' and admins' ways to add points are not a cashier's.
    vic.send_text(f"/points +500 goodwill for {tess.id}")
    own = await vic.next_message()
    assert "Tess" not in own["text"]  # the cashier's own points screen, nothing about Tess
    vic.send_text(f"/customer {tess.id}")
    assert "for administrators only" in (await vic.next_message())["text"]
    # A sale cannot be made up: the till's limits and the amount on the button hold.
    vic.send_text(f"/sale {card} 250000")
    assert (await vic.next_message())["text"].startswith("Please type the amount like 12.50")
    forged = ConfirmSale(card=card, amount=5_000_000, ref="made-up").pack()
    answer, _ = await press(emulator, vic, own, forged, forge=True)
    assert answer["text"] == "This button is no longer active."
    assert (await profile(api, tess))["balance"] == 100
