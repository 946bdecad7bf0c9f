"""A stalled event loop leaves a trace in the log.

While the loop turns, a timer in faulthandler's own C thread is pushed back every third of
LOOP_STALL_SECONDS; when the loop has not turned for that long (a blocking call, a lock, a
page-in storm), the timer fires and every thread's stack is written to stderr while the
stall still lasts, which no log line from inside the loop could do. faulthandler keeps one
such timer per process: this is its only user in the bot.
"""

from __future__ import annotations

import asyncio
import faulthandler
import sys
from typing import TextIO


async def watch_loop(seconds: float, file: TextIO | None = None) -> None:
    """Until cancelled."""
    output = sys.stderr if file is None else file
    try:
        while True:
            faulthandler.dump_traceback_later(seconds, repeat=False, file=output, exit=False)
            await asyncio.sleep(seconds / 3)
    finally:
        faulthandler.cancel_dump_traceback_later()
