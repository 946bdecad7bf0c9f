"""QR codes as PNG images made in memory (segno: pure Python, no imaging library), and the
deep links a customer shows at the till."""

from __future__ import annotations

import io
from functools import lru_cache

import segno

from bot.services.loyalty.service import CARD_PREFIX

# 10 px per module: a version-4 code (a t.me link with a 12-digit payload) comes out at
# 410 px square with the 4-module quiet zone scanners need, sharp after Telegram's
# recompression and a few kilobytes as a two-colour PNG.
_SCALE = 10
_BORDER = 4


@lru_cache(maxsize=1024)
def qr_png(data: str) -> bytes:
    """A QR code of `data` (error correction M: survives a scuffed or glary phone screen)."""
    code = segno.make(data, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=_SCALE, border=_BORDER)
    return buffer.getvalue()


# /start payloads a cashier's phone opens by scanning a customer's screen (handlers/cashier/sales).
REDEEM_PAYLOAD = "redeem_"  # + the 8-digit redemption code
CARD_PAYLOAD = CARD_PREFIX  # + the 12-digit card code


def start_link(bot_username: str, payload: str) -> str:
    """A deep link that opens the bot with `/start <payload>`."""
    return f"https://t.me/{bot_username}?start={payload}"
