"""QR codes as PNG images, made in memory (segno: pure Python, no imaging library)."""

from __future__ import annotations

import io
from functools import lru_cache

import segno

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
