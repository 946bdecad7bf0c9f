"""Typed callback data for every button; each packs well under Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ShowRewards(CallbackData, prefix="rewards"):
    """Opens the rewards catalogue (from /points, expiry reminders, ...)."""


class PickReward(CallbackData, prefix="rwp"):
    """A catalogue reward: issues (or shows again) the customer's code for it."""

    reward_id: str


class UsePoints(CallbackData, prefix="rwu"):
    """Asks how many points to use against a purchase."""


class StopUsingPoints(CallbackData, prefix="rwx"):
    """Leaves the "how many points?" question; nothing was reserved yet."""


class CancelCode(CallbackData, prefix="rwc"):
    """The customer gives up their open code; re-checked: theirs, and still open."""

    redemption_id: int


class ConfirmCode(CallbackData, prefix="rdy"):
    """A cashier confirms a code; `amount` is the sale in minor units (0: a reward code)."""

    code: str
    amount: int


class KeepCode(CallbackData, prefix="rdn"):
    """A cashier leaves a code unconfirmed; it stays valid for the customer."""

    code: str


class ConfirmSale(CallbackData, prefix="sly"):
    """A cashier records a sale. `ref` was chosen when the screen was drawn, so pressing
    twice records the sale once (the order id is till-<cashier>-<ref>)."""

    card: str
    amount: int
    ref: str


class DropSale(CallbackData, prefix="sln"):
    """A cashier leaves a sale unrecorded."""
