"""Demo data on a fresh sandbox: customers who started the bot, invited a friend and bought
things, so /points, /stats, the customer cards and the broadcast segments have something to
show. Everything goes through the emulator (as people) and the till API (as a shop)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from bot.emulator import BotAPIEmulator
from bot.sandbox.personas import DEMO_CUSTOMERS
from bot.sandbox.till import Till

logger = logging.getLogger(__name__)

_START_LINK = re.compile(r"\?start=([A-Za-z0-9_-]{1,64})")
# The demo customer who invites another (by index in DEMO_CUSTOMERS) before they start.
_REFERRER, _REFERRED = 1, 2


async def seed(emulator: BotAPIEmulator, till: Till, timeout: float = 30.0) -> None:
    users = [emulator.users[customer.user_id] for customer in DEMO_CUSTOMERS]
    for index, user in enumerate(users):
        if index == _REFERRED:
            continue
        user.send_text("/start")
        await user.next_message(timeout)
    referrer = users[_REFERRER]
    referrer.skip_messages()
    referrer.send_text("/invite")
    invite = await referrer.next_message(timeout)
    found = _START_LINK.search(invite.get("text", ""))
    referred = users[_REFERRED]
    referred.send_text(f"/start {found.group(1)}" if found else "/start")
    await referred.next_message(timeout)

    now = datetime.now(UTC)
    for customer in DEMO_CUSTOMERS:
        for number, (days_ago, amount) in enumerate(customer.purchases, start=1):
            status, body = await till.purchase(
                customer.user_id,
                amount,
                order_id=f"DEMO-{customer.user_id}-{number}",
                purchased_at=now - timedelta(days=days_ago, hours=number),
            )
            if status not in (200, 201):
                logger.warning("demo purchase for %s refused: %s", customer.first_name, body)
    first = DEMO_CUSTOMERS[0]
    status, body = await till.refund(f"DEMO-{first.user_id}-2", "20.00")
    if status not in (200, 201):
        logger.warning("demo refund refused: %s", body)
    logger.info("demo data: %d customers with purchase history", len(DEMO_CUSTOMERS))
