"""Every scheduled job of the bot, registered in one place for the bot and the CLI alike.

Features add their jobs here (e.g. reviews' post-purchase requests as a periodic job).
Daily jobs sharing a time run in the order registered: expiry before its reminders, so a
reminder never mentions points that burnt a moment earlier.
"""

from __future__ import annotations

from bot.config import Settings, SettingsError
from bot.jobs.scheduler import Scheduler
from bot.services.broadcasts.service import BroadcastService
from bot.services.campaigns import Campaigns, CampaignSettings
from bot.services.loyalty.birthdays import BirthdayBonus
from bot.services.loyalty.expiry import PointsExpiry
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import LoyaltyRules
from bot.services.privacy.retention import TextRetention
from bot.services.reviews import NpsSchedule, NpsService
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
