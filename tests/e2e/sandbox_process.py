"""`python -m bot sandbox` as a real process: started, watched through its output, stopped."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from bot.sandbox.setup import free_port
from tests.e2e.harness import place_faq_model_cache

READY = re.compile(r"Sandbox ready: (http://\S+)")


class SandboxProcess:
    # Every sandbox a test starts, so that a failed assertion does not leave one running.
    created: list[SandboxProcess] = []

    def __init__(self, workdir: Path, data_dir: Path, *extra: str, port: int | None = None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra = extra
        self.log_path = workdir / f"sandbox-{self.port}.log"
        self.process: asyncio.subprocess.Process | None = None
        SandboxProcess.created.append(self)

    async def spawn(self) -> None:
        # Its data directory holds its SQLite file, so the FAQ model's cache too: the graph
        # built once by this test process, not built again by every sandbox.
        place_faq_model_cache(self.data_dir)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "sandbox",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.extra,
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def start(self, timeout: float = 180.0) -> str:
        """Until the page is ready; its URL."""
        await self.spawn()
        return (await self.wait_for_log(READY, timeout)).group(1)

    async def wait_for_log(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Until the sandbox's output matches `pattern` (it exiting first is an error)."""
        assert self.process is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while not (found := pattern.search(self.log())):
            if self.process.returncode is not None:
                raise RuntimeError(f"the sandbox exited:\n{self.log()}")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no {pattern.pattern!r} in:\n{self.log()}")
            await asyncio.sleep(0.05)
        return found

    async def exit_code(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"still running after {timeout} s:\n{self.log()}") from None

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await self.exit_code(timeout)

    def kill_if_running(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
