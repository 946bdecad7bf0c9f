"""A customer's data rights and profile, as a customer and an operator meet them."""

import asyncio
import json
import re
import time

import aiohttp
from aiohttp import web

from bot.sandbox.setup import free_port
from bot.telegram.callbacks import ConfirmForget, SetConsent
from tests.databases import every_row_as_text
from tests.e2e.harness import TOKEN, BotProcess, buttons, press


async def started(emulator, name, **profile):
    user = emulator.add_user(first_name=name, language_code="en", **profile)
    user.send_text("/start")
    await user.next_message()
    return user


def document_of(emulator, message):
    upload = emulator.world.files.get(message["document"]["file_id"])
    return json.loads(upload.data)


def database_bytes(bot):
    if not bot.database_url.startswith("sqlite:///"):
        return every_row_as_text(bot.database_url)
    return b"".join(
        path.read_bytes()
        for path in bot.workdir.iterdir()
        if path.name.startswith(bot.database.name) and not path.name.endswith("-shm")
    )


async def test_mydata_sends_everything_and_forget_leaves_no_trace(bot, emulator, api):
    user = await started(emulator, "Xanthippe", last_name="Thornquist", username="xanthippe_priv")
    secret = "where-is-my-parcel-to-Qwertyville-8812"
    user.send_text(secret)
    await user.next_message()
    user.share_own_contact("+44 7700 900461")
    await user.next_message()  # saved
    await user.next_message()  # the profile again
    order = {"order_id": "PRIV-E2E-1", "telegram_id": user.id, "amount": "12.00"}
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201, await response.text()
    await user.next_message()  # points earned

    user.send_text("/mydata")
    sent = await user.next_message()
    assert sent["document"]["file_name"].endswith(".json")
    document = document_of(emulator, sent)
    assert document["profile"]["first_name"] == "Xanthippe"
    assert document["profile"]["phone"] == "+447700900461"
    assert [p["order_id"] for p in document["purchases"]["purchases"]] == ["PRIV-E2E-1"]
    texts = [item["text"] for item in document["interactions"]]
    assert secret in texts and "/mydata" in texts
    assert {entry["reason"] for entry in document["points_movements"]} >= {"welcome", "purchase"}
    assert document["faq_questions"][0]["text"] == secret
    record = await bot.customer(user.id)
    old_id = record["id"]

    # An operator's copy is the same document; both are audited without personal data.
    exported = await bot.cli("customer", "export", str(user.id))
    assert exported.returncode == 0, exported.stderr
    assert exported.json()["purchases"] == document["purchases"]

    user.send_text("/forget")
    question = await user.next_message()
    confirm = buttons(question)["🗑 Yes, erase my data"]
    answer, now_shown = await press(emulator, user, question, confirm)
    assert now_shown["text"] == "🗑 Your data has been erased."
    assert "new customer" in (await user.next_message())["text"]

    raw = database_bytes(bot)
    for trace in ("Xanthippe", "Thornquist", "xanthippe_priv", "7700900461", secret):
        assert trace.encode() not in raw, trace
    check = await bot.cli("points", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    audit = await bot.cli("audit", "--json")
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    privacy = [(e["action"], e["via"], e["subject"]) for e in entries if e["action"][:5] == "data."]
    assert privacy[-3:] == [
        ("data.export", "customer", f"customer:#{old_id}"),
        ("data.export", "cli", f"customer:#{old_id}"),
        ("data.forget", "customer", f"customer:#{old_id}"),
    ]
    assert "Xanthippe" not in audit.stdout and str(user.id) not in audit.stdout

    # Pressing Yes again (a client that kept the button; the presser is a new customer by
    # now) changes nothing.
    answer, _ = await press(emulator, user, question, confirm, forge=True)
    assert answer["text"] == "This button is no longer active."
    user.send_text("/start")
    greeting = (await user.next_message())["text"]
    assert "Hi, Xanthippe" in greeting
    assert "welcome points" not in greeting  # paid once per person, erased or not
    record = await bot.customer(user.id)
    assert record["id"] != old_id and record["phone"] is None
    points = await bot.cli("points", "show", str(user.id), "--json")
    assert points.json()["movements"] == []


async def test_forget_then_start_through_a_friend_s_link_pays_no_bonus_again(bot, emulator, api):
    """The attack: take the welcome bonus, /forget, come back through a friend's link for a
    second welcome bonus and a referral bonus for both."""
    ines = await started(emulator, "Ines")
    ines.send_text("/invite")
    payload = re.search(r"start=(r-[a-z0-9]+)", (await ines.next_message())["text"]).group(1)
    fred = emulator.add_user(first_name="Fred", language_code="en")
    fred.send_text("/start")
    assert "50 welcome points" in (await fred.next_message())["text"]
    fred.send_text("/forget")
    question = await fred.next_message()
    await press(emulator, fred, question, buttons(question)["🗑 Yes, erase my data"])
    assert "new customer" in (await fred.next_message())["text"]

    fred.send_text(f"/start {payload}")
    greeting = (await fred.next_message())["text"]
    assert "Hi, Fred" in greeting
    assert "welcome points" not in greeting and "invited" not in greeting
    order = {"order_id": "PRIV-FARM-1", "telegram_id": fred.id, "amount": "20.00"}
    async with api.post("/api/v1/purchases", json=order) as response:
        assert response.status == 201, await response.text()
    # A referral notice to Ines would have been queued before Fred's own one.
    assert "+100 points" in (await fred.next_message())["text"]
    assert len(ines.messages) == 2  # the greeting and /invite, nothing since
    points = await bot.cli("points", "show", str(fred.id), "--json")
    assert [m["reason"] for m in points.json()["movements"]] == ["purchase"]
    inviter = await bot.cli("points", "show", str(ines.id), "--json")
    assert [m["reason"] for m in inviter.json()["movements"]] == ["welcome"]


async def test_a_forged_or_stale_confirmation_erases_nothing(bot, emulator):
    victim = await started(emulator, "Victoria")
    mallory = await started(emulator, "Mallory")
    victim_id = (await bot.customer(victim.id))["id"]
    mallory.send_text("/forget")
    own_question = await mallory.next_message()
    forged = ConfirmForget(customer=victim_id, at=int(time.time())).pack()
    answer, _ = await press(emulator, mallory, own_question, forged, forge=True)
    assert answer["text"] == "This button is no longer active."
    mallory_id = (await bot.customer(mallory.id))["id"]
    expired = ConfirmForget(customer=mallory_id, at=int(time.time()) - 3600).pack()
    answer, _ = await press(emulator, mallory, own_question, expired, forge=True)
    assert "expired" in answer["text"]
    assert (await bot.customer(victim.id))["first_name"] == "Victoria"
    assert (await bot.customer(mallory.id))["first_name"] == "Mallory"

    keep = buttons(own_question)["Keep my data"]
    _, shown = await press(emulator, mallory, own_question, keep)
    assert shown["text"] == "Nothing was erased."

    refused = await bot.cli("customer", "forget", str(victim.id))
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert (await bot.customer(victim.id))["first_name"] == "Victoria"
    done = await bot.cli("customer", "forget", str(victim.id), "--yes")
    assert done.returncode == 0, done.stderr
    assert (await bot.cli("customer", "show", str(victim.id))).returncode == 1
    again = await bot.cli("customer", "forget", str(victim.id), "--yes")
    assert again.returncode == 1


async def test_profile_consents_phone_and_birthday(bot, emulator):
    user = await started(emulator, "Penelope")
    user.send_text("/profile")
    screen = await user.next_message()
    assert "✅ Promotions" in screen["text"] and "Phone: not given" in screen["text"]
    promotions = buttons(screen)["✅ Promotions"]
    assert promotions == SetConsent(kind="promotions", on=0).pack()
    answer, screen = await press(emulator, user, screen, promotions)
    assert "❌ Promotions" in screen["text"]
    # The same press replayed (a double tap delivered twice): nothing changes.
    answer, screen = await press(emulator, user, screen, promotions, forge=True)
    assert "❌ Promotions" in screen["text"]
    record = await bot.customer(user.id)
    assert (record["consent_promotions"], record["consent_surveys"]) == (False, True)
    _, screen = await press(emulator, user, screen, buttons(screen)["✅ Surveys"])
    assert not (await bot.customer(user.id))["consent_surveys"]
    forged, _ = await press(
        emulator, user, screen, SetConsent(kind="phone", on=1).pack(), forge=True
    )
    assert forged["text"] == "This button is no longer active."

    # Phone: someone else's contact is refused; one's own is kept.
    await press(emulator, user, screen, buttons(screen)["📱 Add phone"])
    asked = await user.next_message()
    assert "agree" in asked["text"]
    keyboard = user.chat.last_reply_keyboard["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    user.send_contact("+380501112233", "Somebody", user_id=user.id + 1)
    assert "someone else" in (await user.next_message())["text"]
    user.send_contact("+380501112244", "Nobody")  # a contact card without a Telegram user
    assert "someone else" in (await user.next_message())["text"]
    assert (await bot.customer(user.id))["phone"] is None
    user.share_own_contact("380 50 111 22 55")
    assert "saved" in (await user.next_message())["text"]
    screen = await user.next_message()
    assert "Phone: +380501112255" in screen["text"]
    assert (await bot.customer(user.id))["phone"] == "+380501112255"
    interactions = (await bot.customer(user.id))["interactions"]
    assert not any("380501112233" in (item["text"] or "") for item in interactions)

    # Birthday: DD.MM, validated, stored as MM-DD for the birthday bonus.
    await press(emulator, user, screen, buttons(screen)["🎂 Add birthday"])
    assert "DD.MM" in (await user.next_message())["text"]
    user.send_text("31.02")
    assert "not a date" in (await user.next_message())["text"]
    user.send_sticker()
    assert "DD.MM" in (await user.next_message())["text"]
    user.send_text("29.2")
    assert "29.02" in (await user.next_message())["text"]
    assert (await bot.customer(user.id))["birthday"] == "02-29"

    user.send_text("/profile")
    screen = await user.next_message()
    assert "Birthday: 29.02" in screen["text"]
    _, screen = await press(emulator, user, screen, buttons(screen)["🗑 Remove phone"])
    assert "Phone: not given" in screen["text"]
    assert (await bot.customer(user.id))["phone"] is None


class RedirectingFront:
    """A reverse proxy in front of the emulator that can be told to answer getUpdates with
    a redirect to itself, as a misconfigured proxy would: aiohttp gives up with
    TooManyRedirects, whose message quotes the URL, bot token included."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.redirecting = False
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    async def __aenter__(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc):
        await self.session.close()
        await self.runner.cleanup()

    async def forward(self, request):
        if self.redirecting and request.path.endswith("/getUpdates"):
            raise web.HTTPTemporaryRedirect(request.path)
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "")}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as response:
            return web.Response(
                body=await response.read(),
                status=response.status,
                content_type=response.content_type,
            )


async def test_logs_hold_neither_the_token_nor_phone_numbers(own_emulator, tmp_path):
    async with RedirectingFront(own_emulator.base_url) as front:
        bot = BotProcess(own_emulator, tmp_path, env={"TELEGRAM_API_URL": front.base_url})
        await bot.start()
        try:
            user = own_emulator.add_user(first_name="Logan", language_code="en")
            user.send_text("/start")
            await user.next_message()
            # Telegram refuses the reply with an error quoting the customer's number: the
            # bot logs the failed update, traceback and all.
            own_emulator.fail_next(
                "sendMessage",
                error_code=400,
                description="Bad Request: can't parse entities near +44 7700 900123",
                chat_id=user.id,
            )
            user.share_own_contact("447700900123")
            await bot_logged(bot, "failed")
            # Polling through a proxy that redirects in a loop: aiogram logs the client
            # error, and with it the request URL.
            front.redirecting = True
            user.send_text("hello")  # ends the long poll in flight; the next one is redirected
            await bot_logged(bot, "Failed to fetch updates")
            front.redirecting = False
        finally:
            assert await bot.stop() == 0
    log = bot.log()
    assert "TooManyRedirects" in log and "/bot123456789:***/getUpdates" in log
    assert "Bad Request" in log and "[phone]" in log
    secret = TOKEN.split(":", 1)[1]
    assert secret not in log
    assert "900123" not in log and "447700900123" not in log


async def bot_logged(bot, text, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in bot.log():
        assert asyncio.get_running_loop().time() < deadline, bot.log()
        await asyncio.sleep(0.1)


async def test_debug_logs_hold_neither_message_texts_nor_sql_parameters(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path, env={"LOG_LEVEL": "DEBUG"})
    await bot.start()
    secret = "purple-walrus-sings-at-midnight"
    try:
        user = own_emulator.add_user(first_name="Debby", language_code="en")
        user.send_text("/start")
        await user.next_message()
        for phone in ("+380 67 123 45 67", "(067) 765-43-21", "8 (999) 555-44-33"):
            user.send_text(f"{secret} call me at {phone}")
        user.share_own_contact("447700900123")
        await own_emulator.wait_for(lambda: len(user.messages) >= 5, timeout=30)
        await bot_logged(bot, "is handled")  # aiogram's DEBUG lines are there
    finally:
        assert await bot.stop() == 0
    log = bot.log()
    assert "DEBUG" in log
    assert secret not in log
    for digits in ("123 45 67", "765-43-21", "555-44-33", "447700900123", "7700900123"):
        assert digits not in log, digits
