"""QR codes as PNG images, for a customer to show at the till, and the deep links in them."""

from __future__ import annotations

import io

import segno

# /start payloads a cashier's phone opens by scanning a customer's screen (handlers/cashier).
REDEEM_PAYLOAD = "redeem_"  # + the 8-digit redemption code
CARD_PAYLOAD = "card_"  # + the 12-digit card code


def qr_png(text: str) -> bytes:
    """A QR code a phone camera or a till scanner reads from another phone's screen: error
    correction M, 8 pixels a module and the standard 4-module quiet zone (~330 px for a
    t.me link)."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def start_link(bot_username: str, payload: str) -> str:
    """A deep link that opens the bot with `/start <payload>`."""
    return f"https://t.me/{bot_username}?start={payload}"
