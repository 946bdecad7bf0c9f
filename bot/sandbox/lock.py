"""One sandbox per data directory: a second one would share the database (and revoke the
first one's till token), and `--reset` would delete it under the running one."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO

from bot.config.errors import SettingsError

LOCK_FILE = "sandbox.lock"


class DataDirectoryInUse(SettingsError):
    """Another sandbox holds the data directory; the message says where its page is."""


class DataDirectoryLock:
    """An exclusive flock on `data_dir/sandbox.lock`, held while the process lives: the kernel
    releases it when the process ends, however it ends (a crash or kill -9 included), so a
    stale file never blocks the next start. The file says who holds it, for the refusal."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self, *, reset: bool) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = _holder(lock_file.read())
            lock_file.close()
            raise DataDirectoryInUse(_refusal(self.data_dir, holder, reset=reset)) from None
        self._file = lock_file
        self.record(url=None)

    def record(self, url: str | None) -> None:
        """Who holds the lock and (once it is up) where the page is."""
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({"pid": os.getpid(), "url": url}))
        self._file.flush()

    def release(self) -> None:
        # The file stays: removing it would let a third process lock a new file while a
        # second still waits on the old one's lock, and two sandboxes would run again.
        if self._file is not None:
            self._file.close()
            self._file = None


def _holder(text: str) -> dict[str, object]:
    try:
        holder = json.loads(text)
    except ValueError:  # written at this very moment
        return {}
    return holder if isinstance(holder, dict) else {}


def _refusal(data_dir: Path, holder: dict[str, object], *, reset: bool) -> str:
    where = f"its page is {holder['url']}" if holder.get("url") else "it is starting"
    who = f"process {holder['pid']}, {where}" if holder.get("pid") else where
    if reset:
        return (
            f"another sandbox is running on {data_dir} ({who}): --reset would delete its "
            "database; stop it first (Ctrl+C), or use another --data-dir"
        )
    return (
        f"another sandbox is running on {data_dir} ({who}): use that one, stop it first "
        "(Ctrl+C), or start this one with another --data-dir"
    )
