"""Settings from the environment and `.env`; the names are a contract with operators."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from bot.quiet_hours import QuietHours
    from bot.services.business_hours import BusinessHours

SUPPORTED_LANGUAGES = ("en", "ru", "uk")

_TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
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
    "SUPPORT_HOURS": "give agents' hours in TIMEZONE as HH:MM-HH:MM, e.g. 09:00-18:00",
    "SUPPORT_DAYS": "give working days such as mon-fri or mon,tue,sat",
    "SUPPORT_HOLIDAYS": "give dates separated by commas, e.g. 2026-12-25,2027-01-01",
    "SUPPORT_SNIPPETS": "give the path of a YAML or JSON file of canned replies",
}


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
    # The FAQ's source file (JSON/YAML), re-read by /faq_reload; optional.
    faq_file: Path | None = None
    # The loyalty programme's rules (YAML); the bundled defaults when unset.
    loyalty_rules: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
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
        from bot.services.business_hours import BusinessHours

        BusinessHours.parse(value, "mon-sun", "", ZoneInfo("UTC"))
        return value

    @field_validator("support_days")
    @classmethod
    def _days_shape(cls, value: str) -> str:
        from bot.services.business_hours import BusinessHours

        BusinessHours.parse("00:00-24:00", value, "", ZoneInfo("UTC"))
        return value

    @field_validator("support_holidays")
    @classmethod
    def _holidays_shape(cls, value: str) -> str:
        from bot.services.business_hours import BusinessHours

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
        from bot.rates import Rate

        try:
            Rate.parse(value)
        except ValueError as error:
            raise ValueError("is not a rate") from error
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _hours_range(cls, value: str) -> str:
        from bot.quiet_hours import QuietHours

        QuietHours.parse(value)
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
        from bot.quiet_hours import QuietHours

        QuietHours.parse(value)
        return value.strip()

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a tzinfo: "today" and the daily jobs' time follow its calendar."""
        return ZoneInfo(self.timezone)

    @property
    def business_hours(self) -> BusinessHours | None:
        """Agents' hours; None: always at work."""
        from bot.services.business_hours import BusinessHours

        if self.support_hours is None:
            return None
        return BusinessHours.parse(
            self.support_hours, self.support_days, self.support_holidays, self.zone
        )

    @property
    def quiet(self) -> QuietHours:
        from bot.quiet_hours import QuietHours

        return QuietHours.parse(self.quiet_hours)

    @property
    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None

    def require_token(self) -> str:
        if self.bot_token is None:
            raise SettingsError(f"BOT_TOKEN is not set: {_HINTS['BOT_TOKEN']}")
        return self.bot_token.get_secret_value()


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one operator-readable line each."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
            reason = problem["msg"].removeprefix("Value error, ")
            hint = _HINTS.get(name)
            lines.append(f"{name} {reason}" + (f": {hint}" if hint else ""))
        raise SettingsError("\n".join(lines)) from None
