"""Typed callback data for every button; each packs well under Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ShowRewards(CallbackData, prefix="rewards"):
    """Opens the rewards catalogue (from /points, expiry reminders, ...)."""


class ShowCard(CallbackData, prefix="mycard"):
    """Sends the presser's own loyalty card; whose card is never part of the data."""


class ShowInvite(CallbackData, prefix="invite"):
    """Sends the presser's own invitation link and referral figures."""


class FaqNav(CallbackData, prefix="faq"):
    """A step in the /faq browser. `v` is the FAQ's version: after an import, old buttons
    are recognised as stale instead of opening whatever now sits at that position."""

    v: int
    cat: int = -1  # category index; -1: the list of categories
    entry: int = -1  # entry position; -1: the category's list of questions
    page: int = 0


class FaqPick(CallbackData, prefix="faqp"):
    """The customer picks one of the entries offered for their question `q`."""

    q: int
    entry: int
    v: int


class FaqFeedback(CallbackData, prefix="faqf"):
    q: int
    helpful: int  # 1 Helped, 0 Didn't help


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


class StatsPeriod(CallbackData, prefix="stats"):
    days: int


class ReviewPublish(CallbackData, prefix="revpub"):
    """An admin approves a 5-star review for the channel; re-checked: admin, 5 stars with
    text, not published yet."""

    review: int


class StatsCohorts(CallbackData, prefix="cohorts"):
    """Send the cohort table as an image (admins; re-checked by the router's filter)."""

    months: int


class ReviewStars(CallbackData, prefix="rv"):
    """A rating; `purchase` is the rated purchase's id when asked after one (0: /review)."""

    stars: int
    purchase: int = 0


class ReviewSkip(CallbackData, prefix="rvs"):
    """No comment to add to the rating just given."""


class NpsScore(CallbackData, prefix="nps"):
    survey: int
    score: int


class Unsubscribe(CallbackData, prefix="unsub"):
    """Under every promotion: the presser (never anyone named in the data) opts out."""


class BroadcastStep(CallbackData, prefix="bc"):
    """A step of the admin's /broadcast flow for draft `id`: `seg` indexes the common
    segments (or, for `lang`, SUPPORTED_LANGUAGES), `at` is the confirmed send time (Unix
    seconds; 0: now)."""

    id: int
    action: str  # lang, next, seg, now, when, go, cancel
    seg: int = -1
    at: int = 0


class SetConsent(CallbackData, prefix="cns"):
    """Sets (never toggles) one of the presser's own consents: a second press is a no-op."""

    kind: str  # promotions | surveys
    on: int


class ProfileAction(CallbackData, prefix="prf"):
    """A /profile button about the presser's own data."""

    what: str  # phone, nophone, birthday, nobirthday, export, forget


class ConfirmForget(CallbackData, prefix="fgt"):
    """Yes, erase my data. Valid only for the customer record it was asked for (after the
    erasure the presser is a new customer, so a second press is stale) and for a while."""

    customer: int
    at: int  # Unix time the confirmation was asked


class KeepData(CallbackData, prefix="fgn"):
    """No, keep my data."""


class TalkToHuman(CallbackData, prefix="human"):
    """Opens (or shows) the presser's own support ticket; whose is never part of the data."""


class TicketAction(CallbackData, prefix="tk"):
    """Take or Close on a ticket's card in the agents' topic; re-checked on the server:
    the presser is an agent, the button sits in that ticket's topic, the ticket is open."""

    ticket: int
    action: str  # take | close


class RateTicket(CallbackData, prefix="rate"):
    """The customer's 1-5 rating of their closed ticket; re-checked: theirs, not yet rated."""

    ticket: int
    stars: int


class SkipComment(CallbackData, prefix="ratex"):
    """The customer leaves the optional comment after a rating."""

    ticket: int
