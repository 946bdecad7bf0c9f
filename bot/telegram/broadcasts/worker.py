"""The broadcast delivery worker: one asyncio task in the bot process.

It polls the database (so broadcasts created or paused by the CLI are picked up), starts
scheduled broadcasts by materialising their recipients, and works through the queue:

* one global rate (``BROADCAST_RATE``, an aiolimiter bucket holding a tenth of a second's
  worth) and at most one message per chat per second;
* a 429 anywhere (here, or any other call of the bot's: the session's retry middleware
  reports it to the same ``FloodGate``) pauses every broadcast send for ``retry_after``;
* 403 or "chat not found": the customer is marked unreachable and the row 'blocked';
  5xx and network errors: retried with backoff, then 'failed'; other 400s: 'failed'.

Crash safety: ``BROADCAST_IN_FLIGHT`` lanes each send one message at a time. As soon as a
call returns, its outcome is queued for the very next commit (before anything else is
awaited); the claim ('sending') of the lane's next row commits with it or right after,
through the group-commit batcher, and only then does the lane wait for its turn and send.
After a restart, rows still 'sending' are sent again: each may already have reached the
customer, since Telegram has no idempotency key, and no Bot API call can tell whether a
message reached a chat. A row is delivered but not recorded only from the moment Telegram
accepts the call until its answer is back and committed (one network leg plus one commit),
in at most one row per lane: at most ``BROADCAST_IN_FLIGHT`` customers can get a message
twice per crash, about ``rate × that window`` on average (measured: benchmarks/broadcast.py);
nobody is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiolimiter import AsyncLimiter

from bot.background import PollingLoop
from bot.domain.quiet_hours import QuietHours
from bot.services.broadcasts.service import BroadcastService
from bot.services.languages import effective_language
from bot.services.loyalty.rules import LoyaltyRules
from bot.telegram.broadcasts.flood import FloodGate
from bot.telegram.broadcasts.render import progress_text, promotion_keyboard
from bot.telegram.notices import RenderContext, Renderer
from storage.batching import Statement
from storage.clock import utcnow
from storage.repositories.broadcasts import Broadcast, BroadcastRepository, Recipient
from storage.repositories.customers import CustomerRepository
from storage.repositories.interactions import InteractionRepository, NewInteraction
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# The role (storage Database.hold_role) of the one process that sends broadcasts.
SENDER_ROLE = "broadcast-sender"
# The admin's progress message is edited at most this often while sending (Telegram lets a
# bot edit a message in a private chat about once a second; more and it answers 429), and
# never sooner than EDIT_GAP_SECONDS after the previous edit, the last one included.
PROGRESS_SECONDS = 3.0
EDIT_GAP_SECONDS = 1.0
# How soon a pause or cancel made elsewhere stops the sending.
STATE_CHECK_SECONDS = 1.0


@dataclass
class _Run:
    """Figures for the broadcast being sent, kept by this process since it took it up."""

    broadcast_id: int
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    statements: int = 0
    flushes_at_start: int = 0
    last_progress: float = 0.0
    # The progress message's text as last edited: the same text again is refused by
    # Telegram ("message is not modified"), so it is not sent.
    progress_text: str | None = None
    # The one edit of the progress message in flight; the final one waits for it.
    progress_edit: asyncio.Task[None] | None = None


class BroadcastWorker(PollingLoop):
    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        service: BroadcastService,
        i18n: I18n,
        default_language: str,
        zone: ZoneInfo,
        *,
        rate: float,
        in_flight: int,
        gate: FloodGate,
        quiet_hours: QuietHours | None = None,
        poll_seconds: float = 2.0,
        notify: Bot | None = None,
        campaign_texts: Mapping[str, Renderer] | None = None,
        rules: LoyaltyRules | None = None,
    ) -> None:
        self._storage = storage
        self._bot = bot
        self._notify = notify or bot
        self._service = service
        self._i18n = i18n
        self._default_language = default_language
        self._zone = zone
        self._rate = rate
        burst = max(1.0, rate / 10)
        self._limiter = AsyncLimiter(burst, burst / rate)
        self._in_flight = in_flight
        self._recovered = False
        self._gate = gate
        self._quiet = quiet_hours or QuietHours()
        self._last_sent: dict[int, float] = {}
        self._keyboards: dict[tuple[int, str], InlineKeyboardMarkup] = {}
        self._photo_ids: dict[int, str] = {}
        self._run_figures: _Run | None = None
        self._campaign_texts = dict(campaign_texts or {})
        self._rules = rules
        super().__init__("broadcast worker", poll_seconds)

    async def pass_once(self) -> bool:
        # One sender among the processes sharing a database (PostgreSQL replicas): two
        # would read the same queue and both send. The one that takes the role over first
        # requeues what was in flight, as after a restart.
        if not await self._storage.database.hold_role(SENDER_ROLE):
            self._recovered = False
            return False
        if not self._recovered:
            await self.recover()
            self._recovered = True
        return await self.tick()

    async def close(self) -> None:
        if self._bot is not self._notify:
            await self._bot.session.close()

    async def recover(self) -> int:
        async with self._storage.write() as uow:
            resent = await uow.broadcasts.recover_in_flight()
        if resent:
            logger.warning(
                "%d broadcast messages were in flight when the bot stopped; sending them again "
                "(each may reach its customer twice)",
                resent,
            )
        return resent

    async def tick(self) -> bool:
        """Start what is due and send one chunk; True if there may be more to do at once."""
        now = utcnow()
        if self._quiet.contains(now, self._zone):
            return False
        async with self._storage.read() as uow:
            active = await uow.broadcasts.active()
        for broadcast in active:
            if broadcast.state == "scheduled" and broadcast.send_at and broadcast.send_at <= now:
                await self._begin(broadcast)
        async with self._storage.read() as uow:
            active = await uow.broadcasts.active()
        sending = [b for b in active if b.state == "sending"]
        if not sending:
            self._run_figures = None
            return False
        return await self._send_chunk(sending[0])

    async def _begin(self, broadcast: Broadcast) -> None:
        compiled = await self._service.resolve(broadcast.segment)
        async with self._storage.write() as uow:
            total = await uow.broadcasts.start(
                broadcast.id, compiled.sql, compiled.params, utcnow()
            )
        if total >= 0:
            logger.info("broadcast %d started: %d recipients", broadcast.id, total)

    async def _send_chunk(self, broadcast: Broadcast) -> bool:
        figures = self._run_figures
        if figures is None or figures.broadcast_id != broadcast.id:
            figures = self._run_figures = _Run(
                broadcast.id, flushes_at_start=self._storage.batcher.flushes
            )
        # About two seconds of sending per chunk; a pause or cancel is seen within a second.
        limit = max(10, int(self._rate * 2))
        async with self._storage.read() as uow:
            chunk = await uow.broadcasts.next_chunk(broadcast.id, utcnow(), 0, limit)
        if not chunk:
            return await self._maybe_finish(broadcast, figures)
        queue = deque(chunk)
        checked = time.monotonic()
        halted = False

        async def lane() -> None:
            # Each lane sends one message at a time: claim (commit 'sending'), wait for its
            # turn, send, and commit the outcome with the next claim, at once.
            nonlocal checked, halted
            held: list[Statement] = []
            while queue and not halted:
                if time.monotonic() - checked > STATE_CHECK_SECONDS:
                    # Paused or cancelled meanwhile (by the CLI or an admin): stop here.
                    checked = time.monotonic()
                    if not await self._still_sending(broadcast.id):
                        halted = True
                        break
                if time.monotonic() - figures.last_progress > PROGRESS_SECONDS and (
                    figures.progress_edit is None or figures.progress_edit.done()
                ):
                    # One edit at a time, in the background: sending does not wait for it.
                    figures.last_progress = time.monotonic()
                    figures.progress_edit = asyncio.create_task(self._progress(broadcast, figures))
                if not queue:
                    break  # emptied by the other lanes while this one looked
                recipient = queue.popleft()
                if not recipient.eligible or recipient.telegram_id is None:
                    # Opted out or forgotten since the broadcast started.
                    held.append(self._settle(broadcast, recipient, "skipped"))
                    continue
                # The claim commits with whatever is queued: usually this lane's previous
                # outcome and the other lanes' (group commit).
                for statement in held:
                    self._storage.batcher.write_soon(statement)
                await self._storage.batcher.write(
                    BroadcastRepository.mark_sending(broadcast.id, recipient.customer_id)
                )
                figures.statements += 1 + len(held)
                try:
                    outcome = await self._deliver_one(broadcast, recipient, figures)
                except Exception as error:
                    logger.exception(
                        "broadcast %d: delivering to customer %d failed",
                        broadcast.id,
                        recipient.customer_id,
                    )
                    outcome = [
                        self._settle(broadcast, recipient, "failed", error=repr(error)[:200])
                    ]
                # Queued for the very next commit before anything else is awaited (the state
                # check, the next claim): the time a delivered message is not yet recorded,
                # the only time a crash can make it go out twice, is the answer's way back
                # plus one commit.
                for statement in outcome:
                    self._storage.batcher.write_soon(statement)
                figures.statements += len(outcome)
                held = []
            for statement in held:
                self._storage.batcher.write_soon(statement)
            figures.statements += len(held)

        await asyncio.gather(*(lane() for _ in range(self._in_flight)))
        await self._storage.batcher.barrier()
        return True

    async def _still_sending(self, broadcast_id: int) -> bool:
        async with self._storage.read() as uow:
            current = await uow.broadcasts.get(broadcast_id)
        return current is not None and current.state == "sending"

    async def _maybe_finish(self, broadcast: Broadcast, figures: _Run) -> bool:
        await self._storage.batcher.barrier()
        async with self._storage.write() as uow:
            if await uow.broadcasts.open_count(broadcast.id):
                return False  # only retries waiting for their backoff
            finished = await uow.broadcasts.set_state(broadcast.id, ("sending",), "done", utcnow())
        if finished:
            transactions = self._storage.batcher.flushes - figures.flushes_at_start
            per_message = figures.statements / figures.sent if figures.sent else 0.0
            logger.info(
                "broadcast %d done: %d sent by this process in %.1f s; %d delivery writes in "
                "%d transactions (%.2f writes and %.3f transactions per message)",
                broadcast.id,
                figures.sent,
                time.monotonic() - figures.started,
                figures.statements,
                transactions,
                per_message,
                transactions / figures.sent if figures.sent else 0.0,
            )
            await self._finished(broadcast, figures)
        self._run_figures = None
        return True

    async def _deliver_one(
        self, broadcast: Broadcast, recipient: Recipient, figures: _Run
    ) -> list[Statement]:
        """Send to one claimed recipient; returns the statements recording the outcome."""
        chat = recipient.telegram_id
        assert chat is not None
        attempts = recipient.attempts + 1
        while True:
            await self._gate.wait()
            await self._pace(chat)
            await self._limiter.acquire()
            if self._gate.closed():
                continue  # a 429 arrived while this one waited for its turn
            self._last_sent[chat] = time.monotonic()
            try:
                message = await self._send(broadcast, recipient)
            except TelegramRetryAfter as error:
                # Telegram did nothing: every sender waits, then this one tries again.
                self._gate.hold(error.retry_after)
                logger.warning(
                    "broadcast %d: flood limit, pausing %s s", broadcast.id, error.retry_after
                )
                continue
            except TelegramAPIError as error:
                return self._failure(broadcast, recipient, error, attempts)
            outcome = [self._settle(broadcast, recipient, "sent", message_id=message.message_id)]
            if broadcast.campaign:
                # A campaign message is part of the conversation with this customer.
                outcome.append(self._logged(broadcast, chat, message))
            if broadcast.photo and message.photo and broadcast.id not in self._photo_ids:
                file_id = message.photo[-1].file_id
                self._photo_ids[broadcast.id] = file_id
                outcome.append(BroadcastRepository.remember_photo(broadcast.id, file_id))
            figures.sent += 1
            return outcome

    def _failure(
        self, broadcast: Broadcast, recipient: Recipient, error: TelegramAPIError, attempts: int
    ) -> list[Statement]:
        text = str(error.message)[:200]
        if isinstance(error, TelegramForbiddenError) or (
            isinstance(error, TelegramBadRequest | TelegramNotFound)
            and "chat not found" in error.message.lower()
        ):
            # Blocked, deactivated or never started: stop counting on this chat.
            return [
                CustomerRepository.mark_unreachable(recipient.telegram_id or 0, utcnow()),
                self._settle(broadcast, recipient, "blocked", error=text),
            ]
        if isinstance(error, TelegramServerError | TelegramNetworkError) and (
            attempts < MAX_ATTEMPTS
        ):
            delay = min(300.0, 2.0 * 2 ** (attempts - 1))
            return [
                BroadcastRepository.retry_later(
                    broadcast.id, recipient.customer_id, utcnow() + timedelta(seconds=delay), text
                )
            ]
        return [self._settle(broadcast, recipient, "failed", error=text)]

    async def _pace(self, chat: int) -> None:
        last = self._last_sent.get(chat)
        if last is not None:
            wait = 1.0 - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
        if len(self._last_sent) > 10_000:
            horizon = time.monotonic() - 1.0
            self._last_sent = {c: t for c, t in self._last_sent.items() if t > horizon}

    async def _send(self, broadcast: Broadcast, recipient: Recipient) -> Message:
        chat = recipient.telegram_id
        assert chat is not None
        language = effective_language(
            recipient.language, recipient.telegram_language, self._default_language
        )
        if broadcast.campaign:
            text, campaign_markup = self._campaign_message(broadcast.campaign, recipient, language)
            return await self._bot.send_message(chat, text, reply_markup=campaign_markup)
        markup = self._keyboard(broadcast, language)
        if broadcast.photo:
            photo = self._photo_ids.get(broadcast.id) or broadcast.photo_file_id or broadcast.photo
            source: str | FSInputFile = photo
            if not photo.startswith(("http://", "https://")) and Path(photo).is_file():
                source = FSInputFile(photo)
            return await self._bot.send_photo(
                chat, source, caption=broadcast.text_for(language) or None, reply_markup=markup
            )
        return await self._bot.send_message(chat, broadcast.text_for(language), reply_markup=markup)

    def _campaign_message(
        self, campaign: str, recipient: Recipient, language: str
    ) -> tuple[str, InlineKeyboardMarkup]:
        """A campaign's text in the recipient's language, its buttons, then Unsubscribe."""
        render = self._campaign_texts.get(campaign)
        if render is None or self._rules is None:
            raise LookupError(f"no text for the campaign {campaign!r}")
        with self._i18n.context(), self._i18n.use_locale(language):
            rendered = render(recipient.payload or {}, RenderContext(language, self._rules))
            unsubscribe = promotion_keyboard(()).inline_keyboard
        rows: list[list[InlineKeyboardButton]] = [
            *(rendered.reply_markup.inline_keyboard if rendered.reply_markup else []),
            *unsubscribe,
        ]
        return rendered.text, InlineKeyboardMarkup(inline_keyboard=rows)

    @staticmethod
    def _logged(broadcast: Broadcast, chat: int, message: Message) -> Statement:
        return InteractionRepository.add_for_telegram_id(
            chat,
            NewInteraction(
                direction="out",
                kind="campaign",
                text=message.text or message.caption,
                at=utcnow(),
                message_id=message.message_id,
                status="sent",
                meta=json.dumps({"campaign": broadcast.campaign, "broadcast": broadcast.id}),
            ),
        )

    def _keyboard(self, broadcast: Broadcast, language: str) -> InlineKeyboardMarkup:
        key = (broadcast.id, language)
        markup = self._keyboards.get(key)
        if markup is None:
            with self._i18n.context(), self._i18n.use_locale(language):
                markup = self._keyboards[key] = promotion_keyboard(broadcast.buttons)
        return markup

    def _settle(
        self,
        broadcast: Broadcast,
        recipient: Recipient,
        state: str,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> Statement:
        return BroadcastRepository.settle(
            broadcast.id, recipient.customer_id, state, utcnow(), message_id, error
        )

    async def _finished(self, broadcast: Broadcast, figures: _Run) -> None:
        """The progress message's last edit (its final figures), then the one report: a new
        message, so that the admin is notified. Sent once: only the process whose update
        turned the broadcast 'done' gets here."""
        if figures.progress_edit is not None:
            await asyncio.gather(figures.progress_edit, return_exceptions=True)
        wait = EDIT_GAP_SECONDS - (time.monotonic() - figures.last_progress)
        if wait > 0:
            await asyncio.sleep(wait)
        await self._progress(broadcast, figures, done=True)
        if broadcast.progress_chat_id is None:
            return
        try:
            report = await self._admin_text(broadcast, figures, final=True)
            if report is not None:
                await self._notify.send_message(broadcast.progress_chat_id, report)
        except TelegramAPIError as error:
            logger.warning("broadcast %d: final report not sent: %s", broadcast.id, error)

    async def _admin_text(
        self, broadcast: Broadcast, figures: _Run, *, final: bool = False, done: bool = False
    ) -> str | None:
        """Progress or report text in the language of the admin who composed it."""
        assert broadcast.progress_chat_id is not None
        status = await self._service.status(broadcast.id)
        if status is None:
            return None
        async with self._storage.read() as uow:
            admin = await uow.customers.by_telegram_id(broadcast.progress_chat_id)
        language = effective_language(
            admin.language if admin else None,
            admin.telegram_language if admin else None,
            self._default_language,
        )
        elapsed = max(0.001, time.monotonic() - figures.started)
        with self._i18n.context(), self._i18n.use_locale(language):
            return progress_text(status, figures.sent / elapsed, final=final, done=done)

    async def _progress(self, broadcast: Broadcast, figures: _Run, *, done: bool = False) -> None:
        """Edit the admin's progress message (a broadcast composed in Telegram) in place;
        ``done``: with the final figures."""
        if broadcast.progress_chat_id is None or broadcast.progress_message_id is None:
            return
        try:
            text = await self._admin_text(broadcast, figures, done=done)
            if text is None or text == figures.progress_text:
                return
            figures.progress_text = text
            figures.last_progress = time.monotonic()
            await self._notify.edit_message_text(
                text=text,
                chat_id=broadcast.progress_chat_id,
                message_id=broadcast.progress_message_id,
            )
        except TelegramAPIError as error:
            logger.warning("broadcast %d: progress message not updated: %s", broadcast.id, error)
