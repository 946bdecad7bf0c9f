"""Scheduled NPS: the segment, the once-per-period rule and quiet hours, on a real database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.quiet_hours import QuietHours
from bot.services.broadcasts.service import BroadcastService
from bot.services.reviews import NpsSchedule, NpsService
from storage.repositories import TelegramProfile

ZONE = ZoneInfo("Europe/Berlin")


async def _outbox(storage):
    async with storage.read() as uow:
        rows = await uow.session.fetch_all(
            "SELECT customer_id, not_before FROM outbox WHERE kind = 'nps_request' ORDER BY id"
        )
    return [tuple(row) for row in rows]


async def test_quiet_hours_delay_the_questions_and_nobody_is_asked_twice(storage):
    # 22:30 in Berlin (21:30 UTC in winter): quiet until 09:00 Berlin, 08:00 UTC.
    moment = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    for telegram_id in (1, 2):
        async with storage.write() as uow:
            await uow.customers.touch(TelegramProfile(telegram_id, "C", None, None, "en"), moment)
    clock = [moment]
    nps = NpsService(
        storage,
        BroadcastService(storage, ZONE, "en"),
        NpsSchedule(7, "all", QuietHours.parse("22:00-09:00"), ZONE),
        lambda: clock[0],
    )
    first = await nps.scheduled_survey(moment.date())
    assert first["recipients"] == 2
    assert {not_before for _, not_before in await _outbox(storage)} == {
        "2026-11-24 08:00:00.000000"
    }
    clock[0] = moment + timedelta(days=6)
    assert (await nps.scheduled_survey(clock[0].date()))["recipients"] == 0
    clock[0] = moment + timedelta(days=7, minutes=1)
    assert (await nps.scheduled_survey(clock[0].date()))["recipients"] == 2


async def test_no_schedule_asks_nobody(storage):
    nps = NpsService(storage, BroadcastService(storage, ZONE, "en"))
    assert (await nps.scheduled_survey(datetime.now(UTC).date()))["recipients"] == 0
