"""The sandbox in a real browser: `python -m bot sandbox` as a subprocess, its page in headless
Chromium (Debian's, driven by Playwright), used as a customer, the till, an agent and an admin
would. Screenshots of every step go to test-artifacts/sandbox/."""

from __future__ import annotations

import re
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, BrowserType, Locator, Page, async_playwright

from tests.e2e.harness import FAQ_WARMED_UP, ROOT
from tests.e2e.sandbox_process import SandboxProcess

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = ROOT / "test-artifacts" / "sandbox"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
# The bot answers through a polling loop on a shared 2-core machine: generous but finite.
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    workdir = tmp_path_factory.mktemp("sandbox")
    process = SandboxProcess(workdir, workdir / "data")
    try:
        url = await process.start()
        assert url == f"http://127.0.0.1:{process.port}/"
        # Questions get the FAQ's answers once its model is in (until then, "ask again").
        await process.wait_for_log(re.compile(re.escape(FAQ_WARMED_UP)), 180)
        yield url
        assert await process.stop(signal.SIGINT) == 0, process.log()
        assert "Traceback" not in process.log(), process.log()
    finally:
        process.kill_if_running()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[BrowserType]:
    async with async_playwright() as playwright:
        yield playwright.chromium


async def open_page(
    chromium: BrowserType, url: str, viewport: dict[str, int]
) -> tuple[BrowserContext, Page, list[str]]:
    context = await chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="sandbox-chromium-"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": viewport["width"], "height": viewport["height"]},
    )
    page = context.pages[0] if context.pages else await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await page.wait_for_selector("[data-testid=persona-anna]")
    return context, page, errors


class Shots:
    def __init__(self, name: str) -> None:
        self.folder = ARTEFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def take(self, page: Page, step: str) -> None:
        self.count += 1
        await page.screenshot(path=str(self.folder / f"{self.count:02d}-{step}.png"))


def bubble(page: Page, text: str) -> Locator:
    return page.locator("[data-testid=bubble]", has_text=text).last


async def be(page: Page, persona: str) -> None:
    """Switch persona and wait until the page shows that persona's chat."""
    await page.click(f"[data-testid=persona-{persona}]")
    await page.wait_for_selector(f"#app[data-view={persona}]", timeout=WAIT_MS)


async def start_if_needed(page: Page) -> None:
    start = page.locator("[data-testid=start-button]")
    if await start.is_visible():
        await start.click()
        await page.wait_for_selector("[data-testid=reply-button]", timeout=WAIT_MS)


async def send(page: Page, text: str) -> None:
    await page.fill("[data-testid=text]", text)
    await page.click("[data-testid=send]")


async def send_photo(page: Page, png: bytes, caption: str) -> None:
    await page.fill("[data-testid=text]", caption)
    await page.set_input_files(
        "#file", {"name": "receipt.png", "mimeType": "image/png", "buffer": png}
    )


async def shows_the_newest_message(page: Page) -> None:
    """Every photo in the chat has loaded and the chat is scrolled to its end (a photo that
    loads after the chat was scrolled down makes it taller: the newest message must stay
    in sight)."""
    await page.wait_for_function(
        """() => {
            const messages = document.getElementById("messages");
            const photos = [...messages.querySelectorAll("img")];
            return photos.length > 0 && photos.every((photo) => photo.complete)
                && messages.scrollHeight - messages.scrollTop - messages.clientHeight < 2;
        }""",
        timeout=WAIT_MS,
    )


async def test_customer_till_and_agent_on_a_desktop(sandbox: str, chromium: BrowserType) -> None:
    context, page, errors = await open_page(chromium, sandbox, DESKTOP)
    shots = Shots("desktop")
    try:
        await be(page, "anna")
        await shots.take(page, "anna-before-start")
        await page.click("[data-testid=start-button]")
        await page.wait_for_selector("[data-testid=reply-button]", timeout=WAIT_MS)
        await bubble(page, "Hi, Anna").wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-started")

        # A question in her own words: the FAQ answers it.
        await send(page, "When are you open?")
        await bubble(page, "every day from 8:00 to 22:00").wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-faq")

        await page.get_by_role("button", name="⭐ Points").click()
        await bubble(page, "Balance: 50").wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-points")

        # A till sale through the real HTTP API: 5 % of 40.00 EUR is 200 points.
        await page.select_option("[data-testid=till-customer]", label="Anna Smith")
        await page.fill("[data-testid=till-amount]", "40.00")
        await page.click("[data-testid=till-buy]")
        await page.locator("[data-testid=till-result]", has_text="balance 250").wait_for(
            timeout=WAIT_MS
        )
        await page.locator("[data-testid=till-balance]", has_text="250 points").wait_for(
            timeout=WAIT_MS
        )
        await page.get_by_role("button", name="⭐ Points").click()
        await bubble(page, "Balance: 250").wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-after-purchase")

        await send(page, "/support")
        await bubble(page, "is open").wait_for(timeout=WAIT_MS)
        await send(page, "My coffee order never arrived")
        await page.locator(".row.out", has_text="My coffee order never arrived").wait_for()
        # A photo of the receipt: once it has loaded, the chat still shows it at the bottom.
        receipt = await page.screenshot()
        await send_photo(page, receipt, "the receipt")
        await bubble(page, "the receipt").wait_for(timeout=WAIT_MS)
        await shows_the_newest_message(page)
        await shots.take(page, "anna-support")

        await be(page, "max")
        topic = page.locator("[data-testid=topic]", has_text="Anna")
        await topic.wait_for(timeout=WAIT_MS)
        await bubble(page, "My coffee order never arrived").wait_for(timeout=WAIT_MS)
        await bubble(page, "the receipt").wait_for(timeout=WAIT_MS)
        await shows_the_newest_message(page)
        await shots.take(page, "agent-topic")
        await send(page, "Sorry about that, Anna! A new one is on its way.")
        await page.locator(".row.out", has_text="A new one is on its way").wait_for()
        await send(page, "/note refund the delivery fee")
        await shots.take(page, "agent-replied")

        await be(page, "anna")
        await bubble(page, "A new one is on its way").wait_for(timeout=WAIT_MS)
        assert await page.locator("[data-testid=bubble]", has_text="delivery fee").count() == 0
        await shots.take(page, "anna-got-reply")

        await be(page, "ada")
        await start_if_needed(page)
        await send(page, "/stats")
        await bubble(page, "Customers").wait_for(timeout=WAIT_MS)
        await shots.take(page, "admin-stats")

        # A broadcast to everyone: its progress message is edited until "finished".
        await send(page, "/broadcast")
        await bubble(page, "Send the message").wait_for(timeout=WAIT_MS)
        await send(page, "Autumn sale: double points this weekend!")
        # No text per language this time: on to the segment.
        await page.get_by_role("button", name="Continue ➡️").last.click()
        await page.get_by_role("button", name="Everyone").last.click()
        await page.get_by_role("button", name="🚀 Send now").last.click()
        await page.get_by_role("button", name="✅ Yes, send").last.click()
        finished = bubble(page, "finished")
        await finished.wait_for(timeout=WAIT_MS)
        await shots.take(page, "admin-broadcast")
        recipients = re.search(r"finished: (\d+) recipients", await finished.inner_text())
        assert recipients is not None and int(recipients.group(1)) >= 2  # Anna and the demo's
        await be(page, "anna")
        await bubble(page, "Autumn sale").wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-got-broadcast")

        # The till refunds the sale: its 200 points are taken back.
        await page.locator("#till-orders button", has_text="Refund").first.click()
        await page.click("[data-testid=till-refund]")
        await page.locator("[data-testid=till-result]", has_text="balance 50").wait_for(
            timeout=WAIT_MS
        )
        await page.locator("[data-testid=till-balance]", has_text="50 points").wait_for(
            timeout=WAIT_MS
        )
        await shots.take(page, "till-refund")
        assert errors == []
    finally:
        await context.close()


async def test_phone_deep_link_opens_the_other_customers_chat(
    sandbox: str, chromium: BrowserType
) -> None:
    context, page, errors = await open_page(chromium, sandbox, PHONE)
    shots = Shots("phone")
    try:
        # Nothing is wider than the phone's screen: the page scrolls only inside the chat.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        await be(page, "anna")
        await start_if_needed(page)
        await shots.take(page, "anna")
        await page.get_by_role("button", name="⭐ Points").click()
        await bubble(page, "Balance:").last.wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-points")

        await send(page, "/invite")
        invite = bubble(page, "Invite friends")
        await invite.wait_for(timeout=WAIT_MS)
        await shots.take(page, "anna-invite")
        await invite.locator("a", has_text="t.me").click()
        # The link opens Olena's chat and starts the bot with the invitation's code.
        await page.locator(".persona.active[data-persona=olena]").wait_for(timeout=WAIT_MS)
        await page.locator(".row.out", has_text=re.compile(r"/start \S+")).wait_for(timeout=WAIT_MS)
        await bubble(page, "Anna").wait_for(timeout=WAIT_MS)
        await page.get_by_role("button", name="⭐ Бали").click()
        await bubble(page, "50").wait_for(timeout=WAIT_MS)
        await shots.take(page, "olena-invited")

        await page.click("#till-toggle-mobile")
        await page.locator("[data-testid=till-balance]").wait_for(timeout=WAIT_MS)
        await shots.take(page, "till")
        await page.click("#till-close")
        assert await page.locator("[data-testid=till]").is_hidden()
        assert errors == []
    finally:
        await context.close()
