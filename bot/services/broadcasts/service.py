"""Broadcasts: create, schedule, pause, resume, cancel and report; every change audited.

The same service serves the admin's /broadcast flow and the operator CLI; the delivery
worker in the bot process picks up whatever either of them left in the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.explained import N_, ExplainedError
from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.services.access import Actor, audit
from bot.services.analytics import audiences
from bot.services.broadcasts.segments import (
    ANALYTICS_DAYS,
    Compiled,
    SegmentContext,
    SegmentError,
    compile_segment,
    normalise,
)
from bot.services.telegram_html import TelegramHtmlError, sanitize
from bot.telegram.text import CAPTION_LIMIT, MESSAGE_LIMIT, visible_len
from storage.clock import utcnow
from storage.repositories.broadcasts import Broadcast, UrlButton
from storage.unit_of_work import Storage


class BroadcastError(ExplainedError):
    """A request the broadcast's state or content does not allow; the message says why."""


# A broadcast's states, as a reader of an error sees them.
BROADCAST_STATES = {
    "draft": N_("a draft"),
    "scheduled": N_("scheduled"),
    "sending": N_("sending"),
    "paused": N_("paused"),
    "done": N_("sent"),
    "cancelled": N_("cancelled"),
}
_REFUSED = {
    "pause": N_("cannot pause a broadcast that is {state}"),
    "resume": N_("cannot resume a broadcast that is {state}"),
    "cancel": N_("cannot cancel a broadcast that is {state}"),
}


@dataclass(frozen=True)
class Status:
    broadcast: Broadcast
    counts: dict[str, int]

    def document(self) -> dict[str, Any]:
        b = self.broadcast
        return {
            "id": b.id,
            "state": b.state,
            "segment": b.segment,
            "texts": dict(b.texts),
            "total": b.total or 0,
            "sent": self.counts["sent"],
            "failed": self.counts["failed"],
            "blocked": self.counts["blocked"],
            "pending": self.counts["pending"] + self.counts["sending"],
            "skipped": self.counts["skipped"],
            "resent_after_restart": b.resent,
            "created_by": b.created_by,
            "created_at": b.created_at.isoformat(),
            "send_at": b.send_at.isoformat() if b.send_at else None,
            "started_at": b.started_at.isoformat() if b.started_at else None,
            "finished_at": b.finished_at.isoformat() if b.finished_at else None,
        }


def parse_when(text: str, zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """ "+30m", "+2h", "+1d"; "18:30" (the next such time in ``zone``); or an ISO date-time
    (in ``zone`` unless it names its own offset). ValueError if none of these."""
    now = now or utcnow()
    relative = re.fullmatch(r"\+(\d{1,4})([mhd])", text.strip())
    if relative:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return now + timedelta(**{unit: int(relative.group(1))})
    clock = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if clock:
        local = now.astimezone(zone).replace(
            hour=int(clock.group(1)), minute=int(clock.group(2)), second=0, microsecond=0
        )
        return local if local > now else local + timedelta(days=1)
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _who(actor: Actor) -> str:
    return f"telegram:{actor.telegram_id}" if actor.telegram_id is not None else actor.via


def _checked_text(text: str, *, photo: bool, language: str | None = None) -> str:
    """The text as Telegram HTML it will accept; BroadcastError saying which text if not."""
    limit = CAPTION_LIMIT if photo else MESSAGE_LIMIT
    if visible_len(text) > limit:
        if language is None:
            raise BroadcastError(
                N_("the text is longer than Telegram allows ({limit} characters)"), limit=limit
            )
        raise BroadcastError(
            N_("the text for {language} is longer than Telegram allows ({limit} characters)"),
            language=language,
            limit=limit,
        )
    try:
        # Checked now, once: Telegram would refuse it for every recipient at send time.
        return sanitize(text)
    except TelegramHtmlError as error:
        if language is None:
            raise BroadcastError(
                N_("the broadcast text is not valid Telegram HTML: {error}"), error=str(error)
            ) from None
        raise BroadcastError(
            N_("the broadcast text for {language} is not valid Telegram HTML: {error}"),
            language=language,
            error=str(error),
        ) from None


class BroadcastService:
    def __init__(
        self,
        storage: Storage,
        zone: ZoneInfo,
        default_language: str,
        *,
        tiers: Sequence[str] | None = None,
        staff: frozenset[int] = frozenset(),
    ) -> None:
        """``tiers``: the loyalty rules' tier ids (a segment naming another is refused);
        ``staff``: the configured admins (ADMIN_IDS), left out of segments unless opted in."""
        self._storage = storage
        self._zone = zone
        self._default_language = default_language
        self._tiers = None if tiers is None else tuple(tiers)
        self._staff = staff

    def _context(
        self, now: datetime, analytics: Mapping[str, frozenset[int]] | None = None
    ) -> SegmentContext:
        return SegmentContext(
            now, self._zone, self._default_language, analytics, self._tiers, self._staff
        )

    def compile(self, segment: str, now: datetime | None = None) -> Compiled:
        """SegmentError if the expression is malformed or names a tier that does not exist."""
        return compile_segment(segment, self._context(now or utcnow()))

    async def resolve(self, segment: str, now: datetime | None = None) -> Compiled:
        """The condition to select recipients with now: with the analytics groups and RFM
        scores computed (only when the segment uses them). SegmentError if malformed."""
        now = now or utcnow()
        compiled = self.compile(segment, now)
        if not compiled.uses_analytics:
            return compiled
        async with self._storage.read() as uow:
            groups = await audiences(uow, ANALYTICS_DAYS, now)
        return compile_segment(segment, self._context(now, groups))

    async def count(self, segment: str) -> tuple[int, int]:
        """(reachable, known unreachable) customers the segment would reach now."""
        compiled = await self.resolve(segment)
        async with self._storage.read() as uow:
            return await uow.broadcasts.count_segment(compiled.sql, compiled.params)

    async def segment_members(self, segment: str) -> list[int]:
        compiled = await self.resolve(segment)
        async with self._storage.read() as uow:
            return await uow.broadcasts.segment_telegram_ids(compiled.sql, compiled.params)

    async def create(
        self,
        actor: Actor,
        *,
        text: str,
        photo: str | None = None,
        buttons: Sequence[Sequence[UrlButton]] = (),
        segment: str = "all",
        send_at: datetime | None = None,
        draft: bool = False,
        texts: Mapping[str, str] | None = None,
    ) -> int:
        """A broadcast to send at ``send_at`` (now if None), or a draft to confirm later.
        ``texts``: a text per language code (en, ru, uk), sent instead of ``text`` to the
        customers spoken to in that language."""
        segment = normalise(segment)
        self.compile(segment)  # refuse a malformed segment now, not when sending starts
        if not text.strip() and not photo:
            raise BroadcastError(N_("the message is empty"))
        text = _checked_text(text, photo=bool(photo))
        translations = {
            language: self._translation(language, translation, photo=bool(photo))
            for language, translation in (texts or {}).items()
        }
        now = utcnow()
        async with self._storage.write() as uow:
            broadcast_id = await uow.broadcasts.create(
                text=text,
                photo=photo,
                buttons=buttons,
                segment=segment,
                texts=translations,
                state="draft" if draft else "scheduled",
                created_by=_who(actor),
                created_at=now,
                send_at=None if draft else (send_at or now),
            )
            await audit(
                uow,
                actor,
                "broadcast.create",
                f"broadcast:{broadcast_id}",
                None,
                {
                    "segment": segment,
                    "send_at": (send_at or now).isoformat() if not draft else None,
                    "photo": bool(photo),
                    "draft": draft,
                    "languages": sorted(translations),
                },
            )
        return broadcast_id

    async def confirm(
        self,
        actor: Actor,
        broadcast_id: int,
        send_at: datetime | None,
        progress: tuple[int, int] | None = None,
    ) -> None:
        """A draft becomes scheduled (``send_at`` None: now); ``progress`` is the (chat,
        message) the worker edits with live figures."""
        await self.draft_of(actor, broadcast_id)
        async with self._storage.write() as uow:
            if not await uow.broadcasts.schedule(broadcast_id, send_at or utcnow()):
                raise BroadcastError(N_("this broadcast is no longer a draft"))
            if progress is not None:
                await uow.broadcasts.set_progress_message(broadcast_id, *progress)
            await audit(
                uow,
                actor,
                "broadcast.confirm",
                f"broadcast:{broadcast_id}",
                {"state": "draft"},
                {"state": "scheduled", "send_at": (send_at or utcnow()).isoformat()},
            )

    async def draft_of(self, actor: Actor, broadcast_id: int) -> Broadcast:
        """The actor's own draft; BroadcastError for anyone else's or a sent one."""
        broadcast = await self.get(broadcast_id)
        if broadcast is None or broadcast.created_by != _who(actor):
            raise BroadcastError(N_("no such draft of yours"))
        if broadcast.state != "draft":
            raise BroadcastError(
                N_("this broadcast is already {state}"),
                translated=("state",),
                state=BROADCAST_STATES.get(broadcast.state, broadcast.state),
            )
        return broadcast

    @staticmethod
    def _translation(language: str, text: str, *, photo: bool) -> str:
        if language not in SUPPORTED_LANGUAGES:
            raise BroadcastError(
                N_("no language '{language}' (languages: {languages})"),
                language=language,
                languages=", ".join(SUPPORTED_LANGUAGES),
            )
        if not text.strip():
            raise BroadcastError(
                N_("the broadcast text for {language} is empty"), language=language
            )
        return _checked_text(text, photo=photo, language=language)

    async def set_text(self, actor: Actor, broadcast_id: int, language: str, text: str) -> str:
        """The actor's draft gets ``text`` for the customers spoken to in ``language``;
        returns it as stored (sanitised). BroadcastError if refused."""
        broadcast = await self.draft_of(actor, broadcast_id)
        text = self._translation(language, text, photo=bool(broadcast.photo))
        async with self._storage.write() as uow:
            if not await uow.broadcasts.set_texts(
                broadcast_id, {**broadcast.texts, language: text}
            ):
                raise BroadcastError(N_("this broadcast is no longer a draft"))
        return text

    async def set_segment(self, actor: Actor, broadcast_id: int, segment: str) -> None:
        segment = normalise(segment)
        self.compile(segment)
        await self.draft_of(actor, broadcast_id)
        async with self._storage.write() as uow:
            if not await uow.broadcasts.set_segment(broadcast_id, segment):
                raise BroadcastError(N_("this broadcast is no longer a draft"))

    async def get(self, broadcast_id: int) -> Broadcast | None:
        async with self._storage.read() as uow:
            return await uow.broadcasts.get(broadcast_id)

    async def status(self, broadcast_id: int) -> Status | None:
        async with self._storage.read() as uow:
            broadcast = await uow.broadcasts.get(broadcast_id)
            if broadcast is None:
                return None
            return Status(broadcast, await uow.broadcasts.counts(broadcast_id))

    async def latest(self, limit: int = 20) -> list[Status]:
        async with self._storage.read() as uow:
            broadcasts = await uow.broadcasts.latest(limit)
            return [Status(b, await uow.broadcasts.counts(b.id)) for b in broadcasts]

    async def pause(self, actor: Actor, broadcast_id: int) -> None:
        await self._change(actor, broadcast_id, "pause", ("scheduled", "sending"), "paused")

    async def resume(self, actor: Actor, broadcast_id: int) -> None:
        broadcast = await self.get(broadcast_id)
        # Not started yet: back to waiting for its time; started: on with the queue.
        target = "scheduled" if broadcast and broadcast.started_at is None else "sending"
        await self._change(actor, broadcast_id, "resume", ("paused",), target)

    async def cancel(self, actor: Actor, broadcast_id: int) -> None:
        await self._change(
            actor, broadcast_id, "cancel", ("draft", "scheduled", "sending", "paused"), "cancelled"
        )

    async def _change(
        self, actor: Actor, broadcast_id: int, verb: str, allowed: Sequence[str], state: str
    ) -> None:
        now = utcnow()
        async with self._storage.write() as uow:
            broadcast = await uow.broadcasts.get(broadcast_id)
            if broadcast is None:
                raise BroadcastError(N_("no broadcast {id}"), id=broadcast_id)
            if not await uow.broadcasts.set_state(broadcast_id, allowed, state, now):
                raise BroadcastError(
                    _REFUSED[verb],
                    translated=("state",),
                    state=BROADCAST_STATES.get(broadcast.state, broadcast.state),
                )
            if state == "cancelled":
                await uow.broadcasts.skip_open(broadcast_id, now)
            await audit(
                uow,
                actor,
                f"broadcast.{verb}",
                f"broadcast:{broadcast_id}",
                {"state": broadcast.state},
                {"state": state},
            )

    async def tag(self, actor: Actor, telegram_id: int, tag: str, *, remove: bool = False) -> bool:
        tag = tag.strip().lower()
        if not tag or len(tag) > 64 or not all(ch.isalnum() or ch in "_.-" for ch in tag):
            raise BroadcastError(N_("a tag is 1-64 letters, digits, '_', '.' or '-'"))
        async with self._storage.write() as uow:
            customer = await uow.customers.by_telegram_id(telegram_id)
            if customer is None:
                raise BroadcastError(N_("no customer with Telegram id {id}"), id=telegram_id)
            if remove:
                changed = await uow.broadcasts.remove_tag(customer.id, tag)
            else:
                changed = await uow.broadcasts.add_tag(customer.id, tag)
            if changed:
                await audit(
                    uow,
                    actor,
                    "tag.remove" if remove else "tag.add",
                    f"user:{telegram_id}",
                    None,
                    {"tag": tag},
                )
        return changed


__all__ = ["BroadcastError", "BroadcastService", "SegmentError", "Status"]
