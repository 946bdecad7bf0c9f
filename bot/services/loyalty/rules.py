"""The loyalty programme's rules, read from a YAML file and validated before the bot starts."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config.errors import SettingsError
from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.services.telegram_html import markup_in_plain_text

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.yaml")

Points = Annotated[int, Field(ge=0)]
# Names shown to customers, by language; the first one present is the fallback.
LocalisedName = dict[str, Annotated[str, Field(min_length=1, max_length=64)]]


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def localised(names: LocalisedName, language: str) -> str:
    if language in names:
        return names[language]
    for fallback in SUPPORTED_LANGUAGES:
        if fallback in names:
            return names[fallback]
    return next(iter(names.values()))


class ReferralRules(_Rules):
    referrer_points: Points = 100
    referee_points: Points = 50
    monthly_cap: Annotated[int, Field(ge=0)] = 10


class ExpiryRules(_Rules):
    days: Annotated[int, Field(ge=0)] = 365
    remind_days_before: Annotated[int, Field(ge=0)] = 14


class RedemptionRules(_Rules):
    max_share_of_purchase: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.5")
    code_valid_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15


class Tier(_Rules):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    spend: Annotated[Decimal, Field(ge=0)]
    multiplier: Annotated[Decimal, Field(gt=0, le=10)] = Decimal(1)
    name: LocalisedName

    def title(self, language: str) -> str:
        return localised(self.name, language)


class Reward(_Rules):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    points: Annotated[int, Field(gt=0)]
    name: LocalisedName

    def title(self, language: str) -> str:
        return localised(self.name, language)


class LoyaltyRules(_Rules):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    earn_percent: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(5)
    point_value: Annotated[Decimal, Field(gt=0)] = Decimal("0.01")
    welcome_bonus: Points = 50
    review_bonus: Points = 20
    birthday_bonus: Points = 100
    referral: ReferralRules = ReferralRules()
    expiry: ExpiryRules = ExpiryRules()
    redemption: RedemptionRules = RedemptionRules()
    tiers: Annotated[list[Tier], Field(min_length=1)]
    rewards: list[Reward] = []

    @model_validator(mode="after")
    def _consistent(self) -> LoyaltyRules:
        if self.tiers[0].spend != 0:
            raise ValueError("tiers: the first tier must start at spend 0")
        spends = [tier.spend for tier in self.tiers]
        if spends != sorted(spends) or len(set(spends)) != len(spends):
            raise ValueError("tiers: spends must increase from one tier to the next")
        for items, what in ((self.tiers, "tiers"), (self.rewards, "rewards")):
            ids = [item.id for item in items]
            if len(set(ids)) != len(ids):
                raise ValueError(f"{what}: ids must be unique")
        # Tier and reward names are shown escaped (in HTML messages and on buttons), so a tag
        # written here would reach the customer literally: refused when the rules load.
        for named, what in ((self.tiers, "tiers"), (self.rewards, "rewards")):
            for item in named:
                for language, name in item.name.items():
                    problem = markup_in_plain_text(name)
                    if problem is not None:
                        raise ValueError(f"{what}: {item.id}: name.{language}: {problem}")
        return self

    def tier_for(self, spend_minor: int) -> Tier:
        spend = Decimal(spend_minor) / 100
        reached = self.tiers[0]
        for tier in self.tiers:
            if spend >= tier.spend:
                reached = tier
        return reached

    def tier_by_id(self, tier_id: str | None) -> Tier | None:
        return next((tier for tier in self.tiers if tier.id == tier_id), None)

    def next_tier(self, tier: Tier) -> Tier | None:
        index = self.tiers.index(tier)
        return self.tiers[index + 1] if index + 1 < len(self.tiers) else None

    def reward(self, reward_id: str) -> Reward | None:
        return next((reward for reward in self.rewards if reward.id == reward_id), None)

    def points_for(self, amount_minor: int, tier: Tier) -> int:
        """Points a purchase earns: earn_percent of the amount, in points, times the tier's
        multiplier, rounded down (a customer never gets a fraction of a point)."""
        value = Decimal(amount_minor) / 100 * self.earn_percent / 100 * tier.multiplier
        return int((value / self.point_value).to_integral_value(rounding=ROUND_FLOOR))

    def points_value_minor(self, points: int) -> int:
        """What points are worth at the till, in minor units (cents), rounded down."""
        value = Decimal(points) * self.point_value * 100
        return int(value.to_integral_value(rounding=ROUND_FLOOR))


def load_rules(path: Path | None = None) -> LoyaltyRules:
    """Read and validate the rules; any problem is one SettingsError naming file and field."""
    source = path or DEFAULT_RULES_PATH
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"LOYALTY_RULES cannot be read ({source}): {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"LOYALTY_RULES is not valid YAML ({source}): {error}") from None
    try:
        return LoyaltyRules.model_validate(document or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'rules'}: "
            f"{problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        )
        raise SettingsError(f"LOYALTY_RULES ({source}) is invalid: {problems}") from None
