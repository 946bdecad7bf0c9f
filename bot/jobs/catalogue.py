"""Every scheduled job of the bot, registered in one place: the daily and campaign jobs
(for the bot and the CLI alike), and the sweeps only a running bot does.

Features add their jobs here (e.g. reviews' post-purchase requests as a periodic job).
Daily jobs sharing a time run in the order registered: expiry before its reminders, so a
reminder never mentions points that burnt a moment earlier.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Settings, SettingsError
from bot.jobs.scheduler import Scheduler
from bot.services.broadcasts.service import BroadcastService
from bot.services.campaigns import Campaigns, CampaignSettings
from bot.services.faq.service import FaqService
from bot.services.loyalty.birthdays import BirthdayBonus
from bot.services.loyalty.expiry import PointsExpiry
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.redemptions import RedemptionService
from bot.services.loyalty.rules import LoyaltyRules
from bot.services.privacy.retention import TextRetention
from bot.services.reviews import NpsSchedule, NpsService, ReviewService
from bot.telegram.support_desk import SupportDesk
from storage.unit_of_work import Storage

POINTS_EXPIRY = "points-expiry"
EXPIRY_REMINDERS = "expiry-reminders"
BIRTHDAY_BONUS = "birthday-bonus"
TEXT_RETENTION = "text-retention"
BIRTHDAY_CAMPAIGN = "campaign-birthday"
REACTIVATION_CAMPAIGN = "campaign-reactivation"
EXPIRY_CAMPAIGN = "campaign-expiry"
WELCOME_CAMPAIGN = "campaign-welcome"
NPS_SURVEY = "nps-survey"
# A birthday missed while the bot was down is still celebrated, a little late, for this
# many days; expiry and reminders cover "everything due up to now" and need no catching up.
BIRTHDAY_CATCH_UP_DAYS = 7
# How often a running bot re-reads a changed FAQ file and gives back the points of lapsed
# redemption codes.
FAQ_REFRESH_SECONDS = 10.0
REDEMPTION_SWEEP_SECONDS = 30.0


def register_jobs(
    scheduler: Scheduler,
    storage: Storage,
    settings: Settings,
    rules: LoyaltyRules,
    ledger: PointsLedger,
) -> None:
    at = settings.jobs.daily_at
    options = CampaignSettings(**settings.campaigns.model_dump())
    if options.expiry and not (rules.expiry.days and rules.expiry.remind_days_before):
        raise SettingsError(
            "CAMPAIGN_EXPIRY is on but the loyalty rules never remind of expiring points: "
            "set expiry.days and expiry.remind_days_before in LOYALTY_RULES, or turn it off"
        )
    campaigns = Campaigns(
        storage,
        options,
        rules,
        scheduler.zone,
        settings.telegram.default_language,
        scheduler.clock,
        staff=frozenset(settings.telegram.admin_ids),
    )
    expiry = PointsExpiry(
        storage,
        rules,
        ledger,
        scheduler.zone,
        scheduler.clock,
        reminded_by_campaign=campaigns.reminds_expiry,
    )
    scheduler.daily(POINTS_EXPIRY, at, expiry.expire)
    scheduler.daily(EXPIRY_REMINDERS, at, expiry.remind)
    if options.expiry:
        # After expiry: a reminder never names points that burnt a moment earlier.
        scheduler.daily(EXPIRY_CAMPAIGN, at, campaigns.expiry)
    birthdays = BirthdayBonus(
        storage, rules, ledger, scheduler.clock, greeted_by_campaign=campaigns.greets_birthday
    )
    scheduler.daily(BIRTHDAY_BONUS, at, birthdays.grant, catch_up_days=BIRTHDAY_CATCH_UP_DAYS)
    if options.birthday:
        # After the bonus, so that the greeting names it.
        scheduler.daily(
            BIRTHDAY_CAMPAIGN, at, campaigns.birthday, catch_up_days=BIRTHDAY_CATCH_UP_DAYS
        )
    if options.reactivation_days:
        scheduler.daily(REACTIVATION_CAMPAIGN, at, campaigns.reactivation)
    if options.welcome_hours:
        # Looked for ten times per delay (at most every 5 minutes): at most a tenth late.
        sweep = min(300.0, max(settings.jobs.tick_seconds, options.welcome_hours * 360))
        scheduler.every(WELCOME_CAMPAIGN, sweep, campaigns.welcome)
    if settings.privacy.interaction_retention_days:
        retention = TextRetention(
            storage, settings.privacy.interaction_retention_days, scheduler.clock
        )
        scheduler.daily(TEXT_RETENTION, at, retention.blank_old_texts)
    if settings.surveys.nps_every_days:
        # NPS on a schedule: each day, the segment's customers not asked for that long.
        nps = NpsService(
            storage,
            BroadcastService(
                storage,
                settings.zone,
                settings.telegram.default_language,
                tiers=[tier.id for tier in rules.tiers],
                staff=frozenset(settings.telegram.admin_ids),
            ),
            NpsSchedule(
                settings.surveys.nps_every_days,
                settings.surveys.nps_segment,
                settings.surveys.quiet,
                settings.zone,
            ),
            scheduler.clock,
        )
        scheduler.daily(NPS_SURVEY, at, nps.scheduled_survey)


def register_running_bot_jobs(
    scheduler: Scheduler,
    settings: Settings,
    faq: FaqService,
    redemptions: RedemptionService,
    reviews: ReviewService,
    desk: SupportDesk,
) -> None:
    """The sweeps of a running bot (the CLI's `jobs` has no use for them)."""

    async def refresh_faq(_now: datetime) -> None:
        await faq.reload_if_changed()

    async def expire_codes(now: datetime) -> None:
        # Unused redemption codes give their points back soon after they expire.
        await redemptions.expire_due(now)

    async def ask_for_ratings(now: datetime) -> None:
        await reviews.queue_rating_requests(now)

    scheduler.every("faq-refresh", FAQ_REFRESH_SECONDS, refresh_faq)
    scheduler.every("redemption-expiry", REDEMPTION_SWEEP_SECONDS, expire_codes)
    scheduler.every("rating-requests", settings.jobs.tick_seconds, ask_for_ratings)
    if settings.support.first_response_minutes > 0:
        first_response = timedelta(minutes=settings.support.first_response_minutes)
        admin_ids = frozenset(settings.telegram.admin_ids)

        async def remind_waiting(_now: datetime) -> None:
            await desk.remind_waiting(first_response, admin_ids)

        # Looked at twice per allowed wait (at most every minute): a reminder comes at most
        # half the wait late.
        sweep = min(60.0, max(0.5, first_response.total_seconds() / 2))
        scheduler.every("support-first-response", sweep, remind_waiting)
