"""A SIGTERM while a command is still loading ends the process with 0, wherever the main
thread happens to be when Python runs the handler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The handler runs inside a finaliser, as it does when the garbage collector collects during
# an import; an exception raised there would be printed and dropped, and loading go on.
SIGNALLED_INSIDE_A_FINALISER = """
import os, signal
from bot.cli import _SigtermWhileLoading
loading = _SigtermWhileLoading()
class Tidy:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):
            pass
print("loading", flush=True)
tidy = Tidy()
del tidy
print("still loading after SIGTERM", flush=True)
"""


def test_sigterm_inside_a_finaliser_still_ends_the_process() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SIGNALLED_INSIDE_A_FINALISER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "loading\n", done.stdout
    assert "Exception ignored" not in done.stderr, done.stderr
