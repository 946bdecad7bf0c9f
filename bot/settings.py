"""Settings from the environment and `.env`; the names are a contract with operators."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from bot.domain.business_hours import BusinessHours
    from bot.domain.quiet_hours import QuietHours
    from bot.services.campaigns import CampaignSettings

SUPPORTED_LANGUAGES = ("en", "ru", "uk")

_TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
# Telegram's rule for setWebhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")

# What an operator should do when a setting is missing or malformed: printed instead of a
# traceback, so a first start-up failure reads like an instruction.
_HINTS: dict[str, str] = {
    "BOT_TOKEN": "create a bot with @BotFather and put its token in .env as BOT_TOKEN=123456:ABC…",
    "TELEGRAM_API_URL": "use a base URL such as https://api.telegram.org",
    "DATABASE_URL": (
        "use sqlite:///PATH (the default is sqlite:///data/bot.sqlite3) "
        "or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    ),
    "ADMIN_IDS": "give Telegram user ids separated by commas, e.g. ADMIN_IDS=12345,67890",
    "SUPPORT_CHAT_ID": "give the numeric id of the agents' forum supergroup, e.g. -1001234567890",
    "THROTTLE_RATE": 'use a rate such as "20 per 10 seconds"',
    "HTTP_PORT": "give a TCP port for the HTTP API (0 turns the API off)",
    "TIMEZONE": "give an IANA time zone such as Europe/Kyiv or UTC",
    "QUIET_HOURS": "give a range of local hours such as 21:00-09:00, or leave it empty",
    "DAILY_JOBS_AT": "give a time of day in TIMEZONE as HH:MM (or HH:MM:SS), e.g. 03:00",
    "JOBS_TICK_SECONDS": "give the seconds between the scheduler's looks for due jobs, e.g. 30",
    "BROADCAST_RATE": "give broadcast messages per second, e.g. 25 (Telegram allows about 30)",
    "BROADCAST_IN_FLIGHT": "give how many broadcast messages may be on the way at once, e.g. 3",
    "PROMOTION_QUIET_HOURS": "give a span of the day in TIMEZONE as HH:MM-HH:MM, e.g. 21:00-09:00",
    "INTERACTION_RETENTION_DAYS": "give whole days to keep message texts (0 keeps them forever)",
    "CAMPAIGN_BIRTHDAY": "give true or false (greet customers on their birthday)",
    "CAMPAIGN_REACTIVATION_DAYS": "give whole days without a purchase, e.g. 60 (0: off)",
    "CAMPAIGN_EXPIRY": "give true or false (remind of points about to burn, as a campaign)",
    "CAMPAIGN_WELCOME_HOURS": "give hours after the first /start, e.g. 24 (0: off)",
    "SUPPORT_HOURS": "give agents' hours in TIMEZONE as HH:MM-HH:MM, e.g. 09:00-18:00",
    "SUPPORT_DAYS": "give working days such as mon-fri or mon,tue,sat",
    "SUPPORT_HOLIDAYS": "give dates separated by commas, e.g. 2026-12-25,2027-01-01",
    "SUPPORT_SNIPPETS": "give the path of a YAML or JSON file of canned replies",
    "WEBHOOK_URL": "give the public https URL Telegram posts updates to, or leave it empty to poll",
    "WEBHOOK_SECRET": "use 1-256 characters A-Z, a-z, 0-9, _ and - (or leave it empty)",
    "WEBHOOK_LEASE_SECONDS": "give the seconds after which a dead replica's updates are retaken",
    "WEBHOOK_IN_FLIGHT": "give how many webhook updates one process handles at once, e.g. 32",
    "REDIS_URL": "use redis://HOST:PORT/DB, or leave it empty to keep conversations in the DB",
    "LOG_FORMAT": "use text or json",
    "MAX_PURCHASE_AMOUNT": "give the largest purchase amount the API accepts, e.g. 100000",
    "PURCHASE_BACKDATE_DAYS": "give how many days back a purchase may be dated, e.g. 90",
    "MAX_ADJUST_POINTS": "give the most points one API adjustment may move, e.g. 100000",
}


# Said whenever there is no token: everything can be tried first without one.
SANDBOX_HINT = (
    "No token yet? Try everything locally first: `python -m bot sandbox` starts an emulated "
    "Telegram with a web chat for customers, an agent and an admin."
)


class SettingsError(Exception):
    """A setting an operator has to fix; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite:///data/bot.sqlite3"
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    support_chat_id: int | None = None
    default_language: str = "en"
    log_level: str = "INFO"
    throttle_rate: str = "20 per 10 seconds"
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    max_text_length: int = Field(default=1000, ge=1)
    # Minutes after a purchase recorded through the API before its rating is asked; 0: never.
    review_request_delay_minutes: float = Field(default=180.0, ge=0)
    # Hours (in TIMEZONE) when no survey is sent, e.g. "21:00-09:00"; empty: none.
    quiet_hours: str = "21:00-09:00"
    # NPS on a schedule: the daily jobs ask the customers of NPS_SURVEY_SEGMENT (the
    # broadcast segment grammar) who were not asked in this many days; 0: only /nps send.
    nps_survey_every_days: int = Field(default=0, ge=0, le=3660)
    nps_survey_segment: str = "all"
    # A channel (id) where 5-star reviews with text are published once an admin approves
    # each (the bot must be able to post there); unset: no publishing.
    reviews_channel_id: int | None = None
    # The FAQ's source file (JSON/YAML), re-read by /faq_reload; optional.
    faq_file: Path | None = None
    # The loyalty programme's rules (YAML); the bundled defaults when unset.
    loyalty_rules: Path | None = None
    # A referral converts (both sides rewarded) on the friend's first purchase of at least
    # this much, in the programme's currency; a refund taking that purchase below it takes
    # both rewards back.
    referral_min_purchase: Decimal = Field(default=Decimal("10.00"), ge=0, le=100_000)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Bounds on one API request (422 past them): a purchase's amount; how far back a
    # till may date a purchase (purchased_at); the points one adjustment moves either way.
    max_purchase_amount: Decimal = Field(
        default=Decimal(100_000), gt=0, max_digits=12, decimal_places=2
    )
    purchase_backdate_days: int = Field(default=90, ge=0, le=3660)
    max_adjust_points: int = Field(default=100_000, ge=1, le=10**9)
    # The business's time zone: daily jobs run and "today" is decided by its calendar.
    timezone: str = "UTC"
    # When the daily jobs (points expiry, expiry reminders, birthday bonus) run, in TIMEZONE.
    daily_jobs_at: time = time(3, 0)
    # How often the scheduler looks for due jobs; tests use a fraction of a second.
    jobs_tick_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Broadcast messages per second, for the whole bot (Telegram's limit is about 30).
    broadcast_rate: float = Field(default=25.0, gt=0, le=1000)
    # Broadcast messages on the way at once. Each may be delivered twice after a crash
    # (Telegram has no idempotency key), so this is also the duplicate window.
    broadcast_in_flight: int = Field(default=3, ge=1, le=100)
    # How often the bot looks for broadcasts created or changed by the CLI.
    broadcast_poll_seconds: float = Field(default=2.0, gt=0, le=600)
    # No promotion is sent in this span of the day in TIMEZONE, e.g. "21:00-09:00"; empty: none.
    promotion_quiet_hours: str = ""
    # Automated campaigns (bot/services/campaigns.py), each off unless set: a birthday
    # greeting; "we miss you" after N days without a purchase; points-expiry reminders sent
    # as a campaign; a follow-up N hours after the first /start.
    campaign_birthday: bool = False
    campaign_reactivation_days: int = Field(default=0, ge=0, le=3650)
    campaign_expiry: bool = False
    campaign_welcome_hours: float = Field(default=0.0, ge=0, le=24 * 90)
    # Message texts (the conversation, FAQ questions) older than this are blanked by a
    # daily job; 0 keeps them forever.
    interaction_retention_days: int = Field(default=365, ge=0)
    # Human support: a customer writing within this many minutes of a ticket's close opens
    # a new ticket in the same topic (afterwards free text goes to the FAQ again).
    support_reopen_minutes: float = Field(default=30.0, ge=0)
    # A ticket waiting this long for an agent's first reply is reminded of in its topic and
    # to the admins (0: no reminders); also the wait customers are told to expect.
    support_first_response_minutes: float = Field(default=15.0, ge=0)
    # When agents work, in TIMEZONE: "09:00-18:00" on SUPPORT_DAYS except SUPPORT_HOLIDAYS.
    # Unset: always. Out of hours, a new ticket's customer is told when agents are back.
    support_hours: str | None = None
    support_days: str = "mon-fri"
    support_holidays: str = ""
    # Points one agent may add or remove per day with /points (admins are not capped).
    support_points_limit: int = Field(default=500, ge=0)
    # Canned replies for /snippet NAME: a YAML/JSON file {name: text} or
    # {name: {en: text, ru: text, uk: text}}.
    support_snippets: Path | None = None
    # Tiers (ids from the loyalty rules) whose tickets are marked as priority.
    support_priority_tiers: Annotated[tuple[str, ...], NoDecode] = ()
    # Webhook mode: Telegram posts updates to this public URL (served on its path by the
    # HTTP server); unset: the bot long-polls.
    webhook_url: str | None = None
    # Sent by Telegram with every webhook request; derived from BOT_TOKEN when unset, so
    # every replica agrees on it without configuration.
    webhook_secret: SecretStr | None = None
    # An update claimed by a process that stopped renewing its claim this long ago (it died)
    # is handled by another process (or by the same one after a restart).
    webhook_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # Updates from the webhook inbox one process handles concurrently.
    webhook_in_flight: int = Field(default=32, ge=1, le=1000)
    # Redis for conversation state and event isolation across replicas; unset: the database.
    redis_url: str | None = None
    # "text" (human-readable lines) or "json" (one JSON object per line, with update ids).
    log_format: str = "text"

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not _TOKEN_PATTERN.match(value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("telegram_api_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_shape(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("has an unsupported scheme")
        if value.startswith("sqlite:///") and not value.removeprefix("sqlite:///"):
            raise ValueError("names no file")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("is not an http(s) URL")
        path = webhook_path(value)
        if path.startswith("/api/") or path in {"/healthz", "/metrics"}:
            raise ValueError("has a path the HTTP API uses already")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not _WEBHOOK_SECRET.fullmatch(value.get_secret_value().strip()):
            raise ValueError("has characters Telegram does not allow or is too long")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("redis_url")
    @classmethod
    def _redis_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^(redis|rediss|unix)://\S+$", value.strip()):
            raise ValueError("is not a redis:// URL")
        return value.strip()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value.strip().lower()

    @model_validator(mode="after")
    def _webhook_needs_http(self) -> Settings:
        if self.webhook_url is not None and not self.http_port:
            raise ValueError("WEBHOOK_URL needs the HTTP server: set HTTP_PORT to a port")
        return self

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                raise ValueError("must be numbers separated by commas")
            return tuple(int(part) for part in parts)
        return value

    @field_validator("support_priority_tiers", mode="before")
    @classmethod
    def _split_tiers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("support_hours")
    @classmethod
    def _hours_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from bot.domain.business_hours import BusinessHours

        BusinessHours.parse(value, "mon-sun", "", ZoneInfo("UTC"))
        return value

    @field_validator("support_days")
    @classmethod
    def _days_shape(cls, value: str) -> str:
        from bot.domain.business_hours import BusinessHours

        BusinessHours.parse("00:00-24:00", value, "", ZoneInfo("UTC"))
        return value

    @field_validator("support_holidays")
    @classmethod
    def _holidays_shape(cls, value: str) -> str:
        from bot.domain.business_hours import BusinessHours

        BusinessHours.parse("00:00-24:00", "mon-sun", value, ZoneInfo("UTC"))
        return value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("throttle_rate")
    @classmethod
    def _rate_shape(cls, value: str) -> str:
        from bot.domain.rates import Rate

        try:
            Rate.parse(value)
        except ValueError as error:
            raise ValueError("is not a rate") from error
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _hours_range(cls, value: str) -> str:
        from bot.domain.quiet_hours import QuietHours

        QuietHours.parse(value)
        return value

    @field_validator("nps_survey_segment")
    @classmethod
    def _segment_shape(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        from bot.services.broadcasts.segments import (
            SegmentContext,
            compile_segment,
            normalise,
        )
        from storage.clock import utcnow

        value = normalise(value)
        compile_segment(value, SegmentContext(utcnow(), ZoneInfo("UTC"), "en"))
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known time zone") from None
        return value

    @field_validator("daily_jobs_at", mode="before")
    @classmethod
    def _time_of_day(cls, value: Any) -> Any:
        if isinstance(value, time):
            if value.tzinfo is not None:
                raise ValueError("must be a time of day without a zone (TIMEZONE applies)")
            return value
        match = _TIME_OF_DAY.fullmatch(str(value).strip())
        if match is None:
            raise ValueError("is not a time of day")
        hour, minute, second = (int(part or 0) for part in match.groups())
        return time(hour, minute, second)

    @field_validator("promotion_quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        from bot.domain.quiet_hours import QuietHours

        QuietHours.parse(value)
        return value.strip()

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a tzinfo: "today" and the daily jobs' time follow its calendar."""
        return ZoneInfo(self.timezone)

    @property
    def campaigns(self) -> CampaignSettings:
        from bot.services.campaigns import CampaignSettings

        return CampaignSettings(
            birthday=self.campaign_birthday,
            reactivation_days=self.campaign_reactivation_days,
            expiry=self.campaign_expiry,
            welcome_hours=self.campaign_welcome_hours,
        )

    @property
    def business_hours(self) -> BusinessHours | None:
        """Agents' hours; None: always at work."""
        from bot.domain.business_hours import BusinessHours

        if self.support_hours is None:
            return None
        return BusinessHours.parse(
            self.support_hours, self.support_days, self.support_holidays, self.zone
        )

    @property
    def quiet(self) -> QuietHours:
        from bot.domain.quiet_hours import QuietHours

        return QuietHours.parse(self.quiet_hours)

    @property
    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None

    @property
    def webhook_path(self) -> str:
        """Where the HTTP server takes webhook requests: the path of WEBHOOK_URL."""
        return webhook_path(self.webhook_url or "")

    def webhook_secret_token(self) -> str:
        """WEBHOOK_SECRET, or one derived from the bot token: the same in every replica,
        unknown to anyone who does not hold the token."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        digest = hmac.new(self.require_token().encode(), b"telegram-webhook", hashlib.sha256)
        return digest.hexdigest()

    def require_token(self) -> str:
        if self.bot_token is None:
            raise SettingsError(f"BOT_TOKEN is not set: {_HINTS['BOT_TOKEN']}\n{SANDBOX_HINT}")
        return self.bot_token.get_secret_value()


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one operator-readable line each."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            reason = problem["msg"].removeprefix("Value error, ")
            if not problem["loc"]:  # a rule across settings names them itself
                lines.append(reason)
                continue
            name = str(problem["loc"][0]).upper()
            hint = _HINTS.get(name)
            lines.append(f"{name} {reason}" + (f": {hint}" if hint else ""))
        raise SettingsError("\n".join(lines)) from None
