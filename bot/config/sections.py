"""The settings, one class per section. Each field reads the environment variable its alias
names (the names are a contract with operators and never change); its description is the
one line of help that docs/configuration.md and .env.example are generated from, and its
`hint` tells an operator what to write when the value is malformed."""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.business_hours import BusinessHours
from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.domain.quiet_hours import QuietHours
from bot.domain.rates import Rate
from bot.services.broadcasts.segments import SegmentContext, compile_segment, normalise
from storage.clock import utcnow

_TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
# Telegram's rule for setWebhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")


def setting(default: Any, env: str, description: str, hint: str = "", **bounds: Any) -> Any:
    """A field read from the environment variable `env`."""
    return Field(
        default,
        validation_alias=env,
        description=description,
        json_schema_extra={"hint": hint} if hint else None,
        **bounds,
    )


class Section(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        populate_by_name=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        """`SUPPORT_CHAT_ID=` (as in .env.example, uncommented) means not set."""
        if not isinstance(data, dict):
            return data
        names = cls.env_names()
        optional = {env for env, name in names.items() if cls.model_fields[name].default is None}
        return {
            key: None if value == "" and key.upper() in optional else value
            for key, value in data.items()
        }

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """{ENV_NAME: field name}"""
        return {str(field.validation_alias): name for name, field in cls.model_fields.items()}


def _optional(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value.strip()


class TelegramSettings(Section):
    """Telegram: the bot, its admins, how updates arrive, flood control."""

    token: SecretStr | None = setting(
        None,
        "BOT_TOKEN",
        "the bot's token from @BotFather (required to run)",
        "create a bot with @BotFather and put its token in .env as BOT_TOKEN=123456:ABC…",
    )
    api_url: str = setting(
        "https://api.telegram.org",
        "TELEGRAM_API_URL",
        "Bot API base URL (tests point it at the emulator; a local Bot API server works too)",
        "use a base URL such as https://api.telegram.org",
    )
    admin_ids: Annotated[tuple[int, ...], NoDecode] = setting(
        (),
        "ADMIN_IDS",
        "comma-separated Telegram user ids of admins (always admins, whatever the roles say)",
        "give Telegram user ids separated by commas, e.g. ADMIN_IDS=12345,67890",
    )
    default_language: str = setting(
        "en",
        "DEFAULT_LANGUAGE",
        "language for customers whose Telegram language is none of en, ru, uk",
    )
    throttle_rate: str = setting(
        "20 per 10 seconds",
        "THROTTLE_RATE",
        "per-customer flood control: `N per [M] second(s)/minute(s)/hour(s)`, or `N/minute`",
        'use a rate such as "20 per 10 seconds"',
    )
    max_text_length: int = setting(
        1000,
        "MAX_TEXT_LENGTH",
        "longer free text is answered with a request to shorten it (and still recorded whole)",
        ge=1,
    )
    shutdown_grace_seconds: float = setting(
        10.0, "SHUTDOWN_GRACE_SECONDS", "how long SIGTERM waits for updates being handled", ge=0
    )
    webhook_url: str | None = setting(
        None,
        "WEBHOOK_URL",
        "public https URL Telegram posts updates to, served on its path by the HTTP server "
        "(needs HTTP_PORT); unset: the bot long-polls",
        "give the public https URL Telegram posts updates to, or leave it empty to poll",
    )
    webhook_secret: SecretStr | None = setting(
        None,
        "WEBHOOK_SECRET",
        "the X-Telegram-Bot-Api-Secret-Token Telegram sends (1-256 of A-Za-z0-9_-); unset: "
        "derived from BOT_TOKEN, so every replica agrees without configuring it",
        "use 1-256 characters A-Z, a-z, 0-9, _ and - (or leave it empty)",
    )
    webhook_lease_seconds: float = setting(
        30.0,
        "WEBHOOK_LEASE_SECONDS",
        "a dead process's claimed webhook updates are taken over by another after this long "
        "without renewal",
        "give the seconds after which a dead replica's updates are retaken",
        ge=1,
        le=3600,
    )
    webhook_in_flight: int = setting(
        32,
        "WEBHOOK_IN_FLIGHT",
        "webhook updates one process handles at once (also Telegram's max_connections)",
        "give how many webhook updates one process handles at once, e.g. 32",
        ge=1,
        le=1000,
    )
    polling_in_flight: int = setting(
        256,
        "POLLING_IN_FLIGHT",
        "long-polled updates one process handles at once. A customer's updates are handled "
        "one after another; those waiting their turn do not count here (POLLING_HELD bounds "
        "them)",
        "give how many polled updates one process handles at once, e.g. 256",
        ge=1,
        le=10000,
    )
    polling_held: int = setting(
        512,
        "POLLING_HELD",
        "long-polled updates one process holds, handled or waiting their customer's turn; "
        "the rest wait at Telegram, so a burst cannot fill memory with thousands of updates",
        "give how many polled updates one process holds at once, e.g. 512",
        ge=1,
        le=100000,
    )
    redis_url: str | None = setting(
        None,
        "REDIS_URL",
        "conversation state and per-customer ordering in Redis (pip install '.[redis]'); "
        "unset: state lives in the database",
        "use redis://HOST:PORT/DB, or leave it empty to keep conversations in the DB",
    )

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not _TOKEN_PATTERN.match(value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("api_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                raise ValueError("must be numbers separated by commas")
            return tuple(int(part) for part in parts)
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
        try:
            Rate.parse(value)
        except ValueError as error:
            raise ValueError("is not a rate") from error
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str | None) -> str | None:
        value = _optional(value)
        if value is None:
            return None
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
        value = _optional(value)
        if value is not None and not re.match(r"^(redis|rediss|unix)://\S+$", value):
            raise ValueError("is not a redis:// URL")
        return value


class DatabaseSettings(Section):
    """Database: where everything is stored."""

    url: str = setting(
        "sqlite:///data/bot.sqlite3",
        "DATABASE_URL",
        "`sqlite:///RELATIVE/PATH` or `sqlite:////ABSOLUTE/PATH` (one file, no server), or "
        "`postgresql://USER:PASSWORD@HOST:PORT/DATABASE` (PostgreSQL 13+; several bot "
        "processes may share it); migrations run at start-up and with `python -m bot migrate`",
        "use sqlite:///PATH (the default is sqlite:///data/bot.sqlite3) "
        "or postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
    )

    @field_validator("url")
    @classmethod
    def _database_shape(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("has an unsupported scheme")
        if value.startswith("sqlite:///") and not value.removeprefix("sqlite:///"):
            raise ValueError("names no file")
        return value

    @property
    def sqlite_path(self) -> Path | None:
        if self.url.startswith("sqlite:///"):
            return Path(self.url.removeprefix("sqlite:///"))
        return None


class HttpSettings(Section):
    """HTTP: the integration API for tills and its limits, health, metrics, the webhook."""

    host: str = setting(
        "127.0.0.1", "HTTP_HOST", "address of the HTTP server (`0.0.0.0` in Docker)"
    )
    port: int = setting(
        8080,
        "HTTP_PORT",
        "port of the HTTP server (integration API, /healthz, /metrics, webhook); 0 turns it off",
        "give a TCP port for the HTTP API (0 turns the API off)",
        ge=0,
        le=65535,
    )
    max_purchase_amount: Decimal = setting(
        Decimal(100_000),
        "MAX_PURCHASE_AMOUNT",
        "the largest purchase amount the API accepts (422 past it)",
        "give the largest purchase amount the API accepts, e.g. 100000",
        gt=0,
        max_digits=12,
        decimal_places=2,
    )
    purchase_backdate_days: int = setting(
        90,
        "PURCHASE_BACKDATE_DAYS",
        "how many days back a till may date a purchase (purchased_at; 422 past it)",
        "give how many days back a purchase may be dated, e.g. 90",
        ge=0,
        le=3660,
    )
    max_adjust_points: int = setting(
        100_000,
        "MAX_ADJUST_POINTS",
        "the most points one API adjustment may move either way (422 past it)",
        "give the most points one API adjustment may move, e.g. 100000",
        ge=1,
        le=10**9,
    )


class LoyaltySettings(Section):
    """Loyalty: the points programme."""

    rules_file: Path | None = setting(
        None,
        "LOYALTY_RULES",
        "YAML file with the programme's rules (earning, point value, bonuses, referrals, "
        "expiry, tiers, rewards); unset: the bundled bot/services/loyalty/default_rules.yaml",
    )
    referral_min_purchase: Decimal = setting(
        Decimal("10.00"),
        "REFERRAL_MIN_PURCHASE",
        "a referral converts on the friend's first purchase of at least this much; a refund "
        "taking that purchase below it takes both rewards back",
        ge=0,
        le=100_000,
    )


class SupportSettings(Section):
    """Support: human agents in a forum supergroup."""

    chat_id: int | None = setting(
        None,
        "SUPPORT_CHAT_ID",
        "the agents' forum supergroup; the bot must be an admin with Manage topics (checked at "
        "start-up: otherwise support is offline)",
        "give the numeric id of the agents' forum supergroup, e.g. -1001234567890",
    )
    reopen_minutes: float = setting(
        30.0,
        "SUPPORT_REOPEN_MINUTES",
        "a customer's message this soon after a ticket closed reopens that ticket (same "
        "number and topic); later, free text goes to the FAQ; 0: never reopen",
        ge=0,
    )
    first_response_minutes: float = setting(
        15.0,
        "SUPPORT_FIRST_RESPONSE_MINUTES",
        "the wait customers are told; a ticket waiting longer for a first reply is flagged "
        "once in its topic and to admins (0: no reminders)",
        ge=0,
    )
    hours: str | None = setting(
        None,
        "SUPPORT_HOURS",
        "agents' hours in TIMEZONE, e.g. 09:00-18:00; unset: always open; out of hours "
        "customers are told when agents are back",
        "give agents' hours in TIMEZONE as HH:MM-HH:MM, e.g. 09:00-18:00",
    )
    days: str = setting(
        "mon-fri",
        "SUPPORT_DAYS",
        "agents' working days: mon-fri or mon,wed,sat",
        "give working days such as mon-fri or mon,tue,sat",
    )
    holidays: str = setting(
        "",
        "SUPPORT_HOLIDAYS",
        "dates agents are off, e.g. 2026-12-25,2027-01-01",
        "give dates separated by commas, e.g. 2026-12-25,2027-01-01",
    )
    points_limit: int = setting(
        500,
        "SUPPORT_POINTS_LIMIT",
        "points one agent may add or remove per day with /points (admins are not capped)",
        ge=0,
    )
    snippets: Path | None = setting(
        None,
        "SUPPORT_SNIPPETS",
        "YAML/JSON file of canned replies for /snippet: {name: text} or "
        "{name: {en: …, ru: …, uk: …}}",
        "give the path of a YAML or JSON file of canned replies",
    )
    priority_tiers: Annotated[tuple[str, ...], NoDecode] = setting(
        (), "SUPPORT_PRIORITY_TIERS", "tier ids (comma-separated) whose topics are marked ⭐"
    )

    @field_validator("priority_tiers", mode="before")
    @classmethod
    def _split_tiers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("hours")
    @classmethod
    def _hours_shape(cls, value: str | None) -> str | None:
        value = _optional(value)
        if value is not None:
            BusinessHours.parse(value, "mon-sun", "", ZoneInfo("UTC"))
        return value

    @field_validator("days")
    @classmethod
    def _days_shape(cls, value: str) -> str:
        BusinessHours.parse("00:00-24:00", value, "", ZoneInfo("UTC"))
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays_shape(cls, value: str) -> str:
        BusinessHours.parse("00:00-24:00", "mon-sun", value, ZoneInfo("UTC"))
        return value


class FaqSettings(Section):
    """FAQ: answers to customers' questions."""

    file: Path | None = setting(
        None, "FAQ_FILE", "the FAQ's source file (JSON/YAML), re-read by an admin's /faq_reload"
    )


class SurveySettings(Section):
    """Surveys: rating requests after purchases, NPS, publishing good reviews."""

    review_request_delay_minutes: float = setting(
        180.0,
        "REVIEW_REQUEST_DELAY_MINUTES",
        "how long after a purchase recorded through the API its rating is asked; 0: never",
        ge=0,
    )
    quiet_hours: str = setting(
        "21:00-09:00",
        "QUIET_HOURS",
        "local hours (in TIMEZONE) when no survey is sent; empty for none",
        "give a range of local hours such as 21:00-09:00, or leave it empty",
    )
    nps_every_days: int = setting(
        0,
        "NPS_SURVEY_EVERY_DAYS",
        "the daily jobs ask NPS_SURVEY_SEGMENT's customers not asked for this many days; "
        "0: only /nps send",
        ge=0,
        le=3660,
    )
    nps_segment: str = setting(
        "all",
        "NPS_SURVEY_SEGMENT",
        "broadcast segment of the scheduled NPS (the segment grammar, checked at start-up)",
    )
    reviews_channel_id: int | None = setting(
        None,
        "REVIEWS_CHANNEL_ID",
        "channel where a 5-star review with text is published once an admin approves it",
    )

    @field_validator("quiet_hours")
    @classmethod
    def _hours_range(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    @field_validator("nps_segment")
    @classmethod
    def _segment_shape(cls, value: str) -> str:
        value = normalise(value)
        compile_segment(value, SegmentContext(utcnow(), ZoneInfo("UTC"), "en"))
        return value

    @property
    def quiet(self) -> QuietHours:
        return QuietHours.parse(self.quiet_hours)


class BroadcastSettings(Section):
    """Broadcasts: promotions to segments."""

    rate: float = setting(
        25.0,
        "BROADCAST_RATE",
        "broadcast messages per second for the whole bot (Telegram allows about 30)",
        "give broadcast messages per second, e.g. 25 (Telegram allows about 30)",
        gt=0,
        le=1000,
    )
    in_flight: int = setting(
        3,
        "BROADCAST_IN_FLIGHT",
        "broadcast messages on the way at once; also the most that can be sent twice after a "
        "crash (Telegram has no idempotency key)",
        "give how many broadcast messages may be on the way at once, e.g. 3",
        ge=1,
        le=100,
    )
    poll_seconds: float = setting(
        2.0,
        "BROADCAST_POLL_SECONDS",
        "how often the bot looks for broadcasts created or changed by the CLI",
        gt=0,
        le=600,
    )
    promotion_quiet_hours: str = setting(
        "",
        "PROMOTION_QUIET_HOURS",
        "a span of the day in TIMEZONE, e.g. 21:00-09:00, when no promotion is sent; empty: none",
        "give a span of the day in TIMEZONE as HH:MM-HH:MM, e.g. 21:00-09:00",
    )

    @field_validator("promotion_quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        QuietHours.parse(value)
        return value.strip()


class CampaignToggles(Section):
    """Campaigns: automated messages, each off unless set."""

    birthday: bool = setting(
        False,
        "CAMPAIGN_BIRTHDAY",
        "greet customers on their birthday",
        "give true or false (greet customers on their birthday)",
    )
    reactivation_days: int = setting(
        0,
        "CAMPAIGN_REACTIVATION_DAYS",
        '"we miss you" after this many days without a purchase; 0: off',
        "give whole days without a purchase, e.g. 60 (0: off)",
        ge=0,
        le=3650,
    )
    expiry: bool = setting(
        False,
        "CAMPAIGN_EXPIRY",
        "remind of points about to burn, as a campaign",
        "give true or false (remind of points about to burn, as a campaign)",
    )
    welcome_hours: float = setting(
        0.0,
        "CAMPAIGN_WELCOME_HOURS",
        "a follow-up this many hours after a customer's first /start; 0: off",
        "give hours after the first /start, e.g. 24 (0: off)",
        ge=0,
        le=24 * 90,
    )


class JobsSettings(Section):
    """Jobs: the business's calendar and the scheduler."""

    timezone: str = setting(
        "UTC",
        "TIMEZONE",
        'the business\'s IANA time zone: "today" for daily jobs and birthdays, times shown on '
        "codes and points' dates",
        "give an IANA time zone such as Europe/Kyiv or UTC",
    )
    daily_at: time = setting(
        time(3, 0),
        "DAILY_JOBS_AT",
        "when the daily jobs (points expiry, reminders, birthdays, retention) run, in TIMEZONE",
        "give a time of day in TIMEZONE as HH:MM (or HH:MM:SS), e.g. 03:00",
    )
    tick_seconds: float = setting(
        30.0,
        "JOBS_TICK_SECONDS",
        "how often the scheduler looks for due work",
        "give the seconds between the scheduler's looks for due jobs, e.g. 30",
        gt=0,
        le=3600,
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known time zone") from None
        return value

    @field_validator("daily_at", mode="before")
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

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PrivacySettings(Section):
    """Privacy: what is kept, and for how long."""

    interaction_retention_days: int = setting(
        365,
        "INTERACTION_RETENTION_DAYS",
        "conversation and FAQ question texts older than this are blanked by a daily job; "
        "0 keeps them",
        "give whole days to keep message texts (0 keeps them forever)",
        ge=0,
    )


class LoggingSettings(Section):
    """Logging: what the process writes to its log."""

    level: str = setting("INFO", "LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR")
    format: str = setting(
        "text",
        "LOG_FORMAT",
        "text, or json: one JSON object per line (time, level, logger, message, update_id, "
        "exception)",
        "use text or json",
    )

    loop_stall_seconds: float = setting(
        5.0,
        "LOOP_STALL_SECONDS",
        "when the event loop has not turned for this long, every thread's stack is written "
        "to the log while the stall lasts (bot/loop_watch.py); 0 turns it off",
        "give seconds (0 turns it off)",
        ge=0,
    )

    @field_validator("format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value.strip().lower()


def webhook_path(url: str) -> str:
    """Where the HTTP server takes webhook requests: the path of the webhook URL."""
    return urlsplit(url).path or "/"
