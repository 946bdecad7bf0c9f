"""The customer's side of the loyalty programme: /points, /card, /invite, referrals.

Purchases come in as a till sends them, over the HTTP API; everything else is a customer
typing and pressing buttons in the emulated Telegram.
"""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

BOT_LINK = "https://t.me/loyalty_test_bot?start="


async def buy(api, order_id, amount, *, telegram_id=None, card=None, purchased_at=None):
    body = {"order_id": order_id, "amount": amount}
    if telegram_id is not None:
        body["telegram_id"] = telegram_id
    if card is not None:
        body["card"] = card
    if purchased_at is not None:
        body["purchased_at"] = purchased_at.isoformat()
    async with api.post("/api/v1/purchases", json=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def profile(api, telegram_id):
    async with api.get(f"/api/v1/customers/{telegram_id}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def started(emulator, name, language="en"):
    customer = emulator.add_user(first_name=name, language_code=language)
    customer.send_text("/start")
    await customer.next_message()
    return customer


async def ask(customer, text):
    customer.send_text(text)
    return await customer.next_message()


def inline_buttons(message):
    """{label: callback_data or url} of a message's inline keyboard."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {
        button["text"]: button.get("callback_data") or button.get("url")
        for row in rows
        for button in row
    }


def en_date(moment):
    """Babel's English medium date, written out independently: 'Dec 1, 2026'."""
    return f"{moment:%b} {moment.day}, {moment.year}"


def invite_figures(text):
    return tuple(
        int(re.search(rf"{label}: (\d+)", text).group(1))
        for label in ("Friends invited", "Made a purchase", "Points earned for invitations")
    )


def card_code_in(caption):
    match = re.search(r"\b(\d{4}) (\d{4}) (\d{4})\b", caption)
    assert match, caption
    return "".join(match.groups())


async def test_points_show_balance_history_expiry_and_tiers(bot, emulator, api):
    olga = await started(emulator, "Olga")
    screen = await ask(olga, "/points")
    text = screen["text"]
    assert "Balance: 50" in text
    assert "+50 · Welcome bonus · " in text
    assert "Tier: Bronze" in text
    assert "▱▱▱▱▱▱▱▱▱▱ 0%" in text
    assert "Spend €300.00 more to reach Silver" in text
    assert "burn" not in text
    assert inline_buttons(screen) == {
        "🎁 Rewards": "rewards",
        "💳 My card": "mycard",
        "🤝 Invite friends": "invite",
    }

    await buy(api, "LC-P1", "20.00", telegram_id=olga.id)
    assert "+100 points" in (await olga.next_message())["text"]
    text = (await ask(olga, "/points"))["text"]
    assert "Balance: 150" in text
    assert "+100 · Purchase, order LC-P1 · " in text
    assert text.index("LC-P1") < text.index("Welcome bonus")  # the latest first
    assert "Spend €280.00 more to reach Silver" in text

    # A till that syncs late sends a sale of 340 days ago: its points burn in 25 days, and
    # the spend of the last 12 months passes Silver's threshold.
    long_ago = datetime.now(UTC) - timedelta(days=340)
    sale = await buy(api, "LC-P2", "300.00", telegram_id=olga.id, purchased_at=long_ago)
    assert (sale["points_earned"], sale["tier"]) == (1500, "silver")
    assert "+1,500 points" in (await olga.next_message())["text"]
    tier_up = (await olga.next_message())["text"]
    assert "you reached Silver" in tier_up
    assert "×1.25" in tier_up
    text = (await ask(olga, "/points"))["text"]
    assert "Balance: 1,650" in text
    assert "Tier: Silver (points ×1.25)" in text
    assert f"• 1,500 on {en_date(long_ago + timedelta(days=365))}" in text
    assert "Spend €680.00 more to reach Gold" in text
    assert "▱▱▱▱▱▱▱▱▱▱ 2%" in text  # 20 of the 700 between Silver and Gold

    await buy(api, "LC-P3", "400.00", telegram_id=olga.id)
    assert "+2,500 points" in (await olga.next_message())["text"]  # 5 % × 1.25
    await buy(api, "LC-P4", "300.00", telegram_id=olga.id)
    assert "+1,875 points" in (await olga.next_message())["text"]
    assert "you reached Gold" in (await olga.next_message())["text"]
    text = (await ask(olga, "/points"))["text"]
    assert "Tier: Gold (points ×1.5)" in text
    assert "highest tier" in text
    assert "Spend" not in text
    # Ten movements at most, the oldest (the welcome bonus) still among them here.
    assert len(re.findall(r"^[+−][\d,]+ · ", text, flags=re.MULTILINE)) == 5


async def test_points_screen_and_menu_in_russian(bot, emulator):
    rita = emulator.add_user(first_name="Рита", language_code="ru")
    rita.send_text("/start")
    greeting = (await rita.next_message())["text"]
    assert "Приветственные баллы уже на вашем счёте: 50" in greeting
    rita.press_reply_button("⭐ Баллы")
    screen = await rita.next_message()
    text = screen["text"]
    assert "Ваши баллы" in text
    assert "Баланс: 50" in text
    assert "Уровень: Бронза" in text
    assert "+50 · Приветственный бонус · " in text
    assert "До уровня «Серебро» осталось потратить 300,00" in text
    assert set(inline_buttons(screen)) == {"🎁 Награды", "💳 Моя карта", "🤝 Пригласить друзей"}
    rita.press_reply_button("💳 Моя карта")
    assert "Ваша карта лояльности" in (await rita.next_message())["caption"]
    text = (await ask(rita, "/invite"))["text"]
    assert "Приглашено друзей: 0" in text
    assert "вам — 100, другу — 50" in text


async def test_commands_menu_lists_the_loyalty_commands(bot, emulator):
    await started(emulator, "Cmd")  # the bot has started and registered its commands
    commands = {c["command"]: c["description"] for c in emulator.commands(None, "")}
    assert {"points", "card", "invite"} <= set(commands)
    russian = {c["command"]: c["description"] for c in emulator.commands(None, "ru")}
    assert russian["points"] == "Мои баллы, уровень и история"


async def test_card_is_a_qr_photo_whose_code_the_till_accepts(bot, emulator, api):
    dana = await started(emulator, "Dana")
    card = await ask(dana, "/card")
    assert card["photo"], card
    code = card_code_in(card["caption"])
    assert any(entity["type"] == "code" for entity in card["caption_entities"])
    upload = emulator.world.files.get(card["photo"][-1]["file_id"])
    assert upload.data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = card["photo"][-1]["width"], card["photo"][-1]["height"]
    assert width == height >= 300
    assert (await profile(api, dana.id))["card"] == code

    sale = await buy(api, "LC-C1", "10.00", card=code)
    assert sale["telegram_id"] == dana.id
    assert "+50 points" in (await dana.next_message())["text"]
    # The same card every time, from the menu too.
    dana.press_reply_button("💳 My card")
    assert card_code_in((await dana.next_message())["caption"]) == code


async def test_referral_from_invite_to_reward(bot, emulator, api):
    anna = await started(emulator, "Anna")
    invite = await ask(anna, "/invite")
    text = invite["text"]
    assert invite_figures(text) == (0, 0, 0)
    assert "100 for you and 50 for your friend" in text
    assert "up to 10" in text
    link = re.search(rf"{re.escape(BOT_LINK)}(r-[a-z0-9]+)", text)
    assert link, text
    payload = link.group(1)
    share = urlsplit(inline_buttons(invite)["📤 Share the link"])
    assert (share.netloc, share.path) == ("t.me", "/share/url")
    query = parse_qs(share.query)
    assert query["url"] == [link.group(0)]
    assert "bonus points" in query["text"][0]

    boris = emulator.add_user(first_name="Boris", language_code="en")
    boris.send_text(f"/start {payload}")
    assert "invited by Anna" in (await boris.next_message())["text"]

    await buy(api, "LC-R1", "10.00", telegram_id=boris.id)
    boris_notices = [(await boris.next_message())["text"] for _ in range(2)]
    assert any("friend's invitation" in notice for notice in boris_notices)
    thanks = (await anna.next_message())["text"]
    assert "Boris made their first purchase" in thanks
    assert "+100 points" in thanks
    assert invite_figures((await ask(anna, "/invite"))["text"]) == (1, 1, 100)
    assert (await profile(api, anna.id))["balance"] == 150

    # Boris's second purchase rewards nobody again. Notices go out in the order they were
    # queued, and a referral notice would be queued before Boris's own one.
    anna_seen = len(anna.messages)
    await buy(api, "LC-R2", "10.00", telegram_id=boris.id)
    assert "+50 points for your purchase" in (await boris.next_message())["text"]
    assert len(anna.messages) == anna_seen
    assert (await profile(api, boris.id))["balance"] == 50 + 50 + 50 + 50
    assert (await profile(api, anna.id))["balance"] == 150

    # An existing customer following the link later is not attributed, purchase or not.
    carl = await started(emulator, "Carl")
    carl.send_text(f"/start {payload}")
    assert "invited" not in (await carl.next_message())["text"]
    await buy(api, "LC-R3", "10.00", telegram_id=carl.id)
    assert "+50 points" in (await carl.next_message())["text"]
    assert len(anna.messages) == anna_seen

    # Nor is Anna by her own link.
    anna.send_text(f"/start {payload}")
    assert "invited" not in (await anna.next_message())["text"]
    assert invite_figures((await ask(anna, "/invite"))["text"]) == (1, 1, 100)


async def test_a_referral_needs_a_purchase_of_the_minimum_and_its_refund_takes_it_back(
    bot, emulator, api
):
    """The attack: invite a second account of one's own, buy for €0.01 (or buy, collect the
    bonuses and refund). REFERRAL_MIN_PURCHASE is 10.00 by default."""
    ines = await started(emulator, "Ines")
    payload = re.search(r"start=(r-[a-z0-9]+)", (await ask(ines, "/invite"))["text"]).group(1)
    fay = emulator.add_user(first_name="Fay", language_code="en")
    fay.send_text(f"/start {payload}")
    assert "invited by Ines" in (await fay.next_message())["text"]

    await buy(api, "LC-MIN-1", "0.01", telegram_id=fay.id)
    assert "+0 points" in (await fay.next_message())["text"]
    assert invite_figures((await ask(ines, "/invite"))["text"]) == (1, 0, 0)
    assert (await profile(api, ines.id))["balance"] == 50

    # Still pending: the first purchase of the minimum converts it.
    await buy(api, "LC-MIN-2", "10.00", telegram_id=fay.id)
    fay_notices = [(await fay.next_message())["text"] for _ in range(2)]
    assert any("friend's invitation" in notice for notice in fay_notices)
    assert "Fay made their first purchase" in (await ines.next_message())["text"]
    assert invite_figures((await ask(ines, "/invite"))["text"]) == (1, 1, 100)
    assert (await profile(api, ines.id))["balance"] == 150
    assert (await profile(api, fay.id))["balance"] == 50 + 50 + 50

    async with api.post("/api/v1/refunds", json={"order_id": "LC-MIN-2"}) as response:
        assert response.status == 201, await response.text()
    taken = (await ines.next_message())["text"]
    assert taken == (
        "↩️ 100 points for inviting a friend were taken back: the friend's purchase was "
        "refunded.\nBalance: 50 points."
    )
    fay_notices = [(await fay.next_message())["text"] for _ in range(2)]
    assert "50 points of your invitation bonus were taken back" in fay_notices[0]
    assert "50 points were taken back for the refund of order LC-MIN-2" in fay_notices[1]
    assert (await profile(api, ines.id))["balance"] == 50
    assert (await profile(api, fay.id))["balance"] == 50
    points = (await ask(ines, "/points"))["text"]
    assert "−100 · Invitation bonus taken back (purchase refunded) · " in points
    assert invite_figures((await ask(ines, "/invite"))["text"]) == (1, 0, 0)
    check = await bot.cli("points", "check")
    assert check.returncode == 0, check.stdout + check.stderr


async def test_buttons_open_card_and_invite_and_forged_ones_do_nothing(bot, emulator):
    eva = await started(emulator, "Eva")
    screen = await ask(eva, "/points")

    query = eva.press(screen, "mycard")
    card = await eva.next_message()
    code = card_code_in(card["caption"])
    await emulator.wait_for(lambda: emulator.callback_answer(query) is not None)

    query = eva.press(screen, "invite")
    invite = await eva.next_message()
    assert BOT_LINK + "r-" in invite["text"]
    await emulator.wait_for(lambda: emulator.callback_answer(query) is not None)

    # Forged data: another customer's id tacked on, an unknown prefix. Answered, and nothing
    # is sent or changed.
    seen = len(eva.messages)
    for forged in ("mycard:1", "invite:900000001", "mycard:" + "9" * 40, "points:steal"):
        query = eva.press(screen, forged, forge=True)
        await emulator.wait_for(lambda q=query: emulator.callback_answer(q) is not None)
        assert emulator.callback_answer(query)["text"] == "This button is no longer active."
    assert len(eva.messages) == seen
    assert card_code_in((await ask(eva, "/card"))["caption"]) == code
