"""All settings, section by section, and how they are read."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config.errors import SettingsError, sandbox_hint
from bot.config.sections import (
    BroadcastSettings,
    CampaignToggles,
    DatabaseSettings,
    FaqSettings,
    HttpSettings,
    JobsSettings,
    LoggingSettings,
    LoyaltySettings,
    PrivacySettings,
    Section,
    SupportSettings,
    SurveySettings,
    TelegramSettings,
    webhook_path,
)
from bot.domain.business_hours import BusinessHours


class Settings(BaseModel):
    """Everything an operator can set, by section (`settings.support.reopen_minutes`)."""

    model_config = ConfigDict(frozen=True)

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    loyalty: LoyaltySettings = Field(default_factory=LoyaltySettings)
    support: SupportSettings = Field(default_factory=SupportSettings)
    faq: FaqSettings = Field(default_factory=FaqSettings)
    surveys: SurveySettings = Field(default_factory=SurveySettings)
    broadcasts: BroadcastSettings = Field(default_factory=BroadcastSettings)
    campaigns: CampaignToggles = Field(default_factory=CampaignToggles)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @model_validator(mode="after")
    def _webhook_needs_http(self) -> Settings:
        if self.telegram.webhook_url is not None and not self.http.port:
            raise ValueError("WEBHOOK_URL needs the HTTP server: set HTTP_PORT to a port")
        return self

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        return {
            name: field.annotation
            for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        }

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a tzinfo: "today" and the daily jobs' time follow its calendar."""
        return self.jobs.zone

    @property
    def business_hours(self) -> BusinessHours | None:
        """Agents' hours; None: always at work."""
        support = self.support
        if support.hours is None:
            return None
        return BusinessHours.parse(support.hours, support.days, support.holidays, self.zone)

    @property
    def webhook_path(self) -> str:
        """Where the HTTP server takes webhook requests: the path of WEBHOOK_URL."""
        return webhook_path(self.telegram.webhook_url or "")

    def webhook_secret_token(self) -> str:
        """WEBHOOK_SECRET, or one derived from the bot token: the same in every replica,
        unknown to anyone who does not hold the token."""
        if self.telegram.webhook_secret is not None:
            return self.telegram.webhook_secret.get_secret_value()
        digest = hmac.new(self.require_token().encode(), b"telegram-webhook", hashlib.sha256)
        return digest.hexdigest()

    def require_token(self) -> str:
        if self.telegram.token is None:
            raise SettingsError(f"BOT_TOKEN is not set: {hint('BOT_TOKEN')}\n{sandbox_hint()}")
        return self.telegram.token.get_secret_value()


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
    **overrides: Any,
) -> Settings:
    """Read every section from the environment (and `env_file`), or from `environ` alone when
    given; `overrides` are values by environment name (any case). A malformed setting becomes
    one operator-readable line naming it."""
    given = {name.upper(): value for name, value in (environ or {}).items()}
    given.update({name.upper(): value for name, value in overrides.items()})
    sections: dict[str, Section] = {}
    problems: list[str] = []
    for name, section in Settings.sections().items():
        values = {env: given[env] for env in section.env_names() if env in given}
        try:
            # pydantic-settings reads the environment (and env_file) for what is not given.
            read: Any = section
            sections[name] = read(_env_file=env_file, **values)
        except ValidationError as error:
            problems.extend(_lines(error))
    if problems:
        raise SettingsError("\n".join(problems))
    try:
        return Settings(**sections)
    except ValidationError as error:
        raise SettingsError("\n".join(_lines(error))) from None


def environment_names() -> list[str]:
    """Every variable an operator may set, section by section."""
    return [env for section in Settings.sections().values() for env in section.env_names()]


def hint(env: str) -> str:
    """What an operator should write for the setting `env`."""
    for section in Settings.sections().values():
        field = section.model_fields.get(section.env_names().get(env, ""))
        if field is not None and isinstance(field.json_schema_extra, dict):
            return str(field.json_schema_extra.get("hint", ""))
    return ""


def _lines(error: ValidationError) -> list[str]:
    lines = []
    for problem in error.errors():
        reason = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # a rule across settings names them itself
            lines.append(reason)
            continue
        name = str(problem["loc"][0]).upper()
        advice = hint(name)
        lines.append(f"{name} {reason}" + (f": {advice}" if advice else ""))
    return lines
