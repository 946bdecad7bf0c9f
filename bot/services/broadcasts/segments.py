"""Segments: a small expression language that picks a broadcast's recipients.

    expr    := or
    or      := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | atom
    atom    := all | referred | never_purchased | birthday_month
             | new | returning | frequent | medium | rare | lost
             | lang=CODE | tier=ID | tag=NAME
             | balance OP N | inactive OP Nd | expiring OP Nd      (OP: >= <= > < =)
             | rating OP N | support_rating OP N
             | recency OP N | frequency OP N | monetary OP N       (RFM scores 1-5)

Examples: ``tier=gold and balance>=100``, ``lang=ru and not (new or referred)``,
``inactive>=30d``, ``expiring<=14d``, ``rating<=2``, ``frequent and monetary>=4``.

The analytics groups (new, returning, frequent, medium, rare, lost) and RFM scores are
those of /stats for the last ANALYTICS_DAYS days (bot/services/analytics.py, one
definition): new = first purchase in the period; returning = bought in the period, first
purchase before it, banded into frequent / medium / rare by purchases in the last 90 days
(terciles); lost = bought before the period, not in it; RFM = quintile scores among all
buyers. They are computed in Python and reach the SQL as a bound list of customer ids.
``rating`` is the customer's latest review (1-5 stars), ``support_rating`` their latest
rating of a support ticket (1-5); a customer who never rated is in neither.

An expression compiles to a SQL condition over ``customers c`` with bound parameters only
(names and numbers never reach the SQL text). Consent and reachability are not part of a
segment: the broadcast service adds them to every query, so no expression can reach a
customer who opted out.

Staff (the configured admins, and whoever holds a role: admin, agent, cashier) are customers
of the bot too, but no segment selects them, ``all`` included, unless they opted in: sent
/subscribe themselves (``customers.promotions_opted_in_at``, cleared again by /stop or the
Unsubscribe button). Being subscribed by default, as every customer is, does not count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.explained import N_, ExplainedError
from storage.clock import to_db

# The analytics period the groups (new, returning, frequent, ..., lost) and RFM scores of a
# segment are computed over: "new" customers made their first purchase within it.
ANALYTICS_DAYS = 30
NEW_CUSTOMER_DAYS = ANALYTICS_DAYS

_TOKEN = re.compile(
    r"\s*(?:(?P<paren>[()])|(?P<cmp>[a-z_]+\s*(?:>=|<=|=|>|<)\s*[^\s()]+)|(?P<word>[a-z_]+))",
    re.IGNORECASE,
)
_COMPARISON = re.compile(r"([a-z_]+)\s*(>=|<=|=|>|<)\s*(\S+)", re.IGNORECASE)
_DAYS = re.compile(r"(\d{1,5})d?", re.IGNORECASE)
_NAME = re.compile(r"[\w.-]{1,64}")
_OPERATORS = {">=": ">=", "<=": "<=", "=": "=", ">": ">", "<": "<"}
_MIRRORED = {">=": "<=", "<=": ">=", "=": "=", ">": "<", "<": ">"}

ANALYTICS_GROUPS = ("new", "returning", "frequent", "medium", "rare", "lost")
RFM = ("recency", "frequency", "monetary")
RATINGS = ("rating", "support_rating")
FLAGS = ("all", "referred", "never_purchased", "birthday_month", *ANALYTICS_GROUPS)
COMPARISONS = ("lang", "tier", "tag", "balance", "inactive", "expiring", *RATINGS, *RFM)


class SegmentError(ExplainedError, ValueError):
    """The expression does not parse; the message says where and why."""


def _unknown(name: str) -> SegmentError:
    return SegmentError(
        N_("unknown segment {name} (known: {known})"),
        name=repr(name),
        known=", ".join(FLAGS + COMPARISONS),
    )


@dataclass(frozen=True)
class Compiled:
    sql: str
    params: tuple[Any, ...]
    # Uses analytics groups or RFM scores: compiled without them (SegmentContext.analytics
    # None) it selects nobody by those atoms, which is enough to validate it, not to send.
    uses_analytics: bool = False


@dataclass(frozen=True)
class SegmentContext:
    """What an expression is evaluated against: the moment and the business's calendar."""

    now: datetime
    zone: ZoneInfo
    default_language: str
    # bot.services.analytics.audiences(): customer ids per group ("new") and score
    # ("recency:5"); None when not loaded (see Compiled.uses_analytics).
    analytics: Mapping[str, frozenset[int]] | None = None
    # The loyalty rules' tier ids: a tier=ID naming none of them is refused. None: unchecked
    # (the settings' own check, which has no rules to hand).
    tiers: tuple[str, ...] | None = None
    # The configured admins (ADMIN_IDS), who are staff without a row in the roles table.
    staff: frozenset[int] = frozenset()


def _tokens(expression: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SegmentError(N_("cannot read the segment at {rest}"), rest=repr(text[position:]))
        tokens.append(match.group(match.lastgroup or "word").strip())
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], context: SegmentContext) -> None:
        self._tokens = tokens
        self._position = 0
        self._context = context
        self._params: list[Any] = []
        self._uses_analytics = False

    def parse(self) -> Compiled:
        if not self._tokens:
            raise SegmentError(N_("the segment is empty"))
        sql = self._or()
        if self._position < len(self._tokens):
            raise SegmentError(N_("unexpected {token}"), token=repr(self._tokens[self._position]))
        return Compiled(sql, tuple(self._params), self._uses_analytics)

    def _peek(self) -> str | None:
        return self._tokens[self._position].lower() if self._position < len(self._tokens) else None

    def _take(self) -> str:
        token = self._tokens[self._position]
        self._position += 1
        return token

    def _or(self) -> str:
        parts = [self._and()]
        while self._peek() == "or":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self) -> str:
        parts = [self._unary()]
        while self._peek() == "and":
            self._take()
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _unary(self) -> str:
        token = self._peek()
        if token is None:
            raise SegmentError(N_("the segment ends too early"))
        if token == "not":
            self._take()
            return f"NOT {self._unary()}"
        if token == "(":
            self._take()
            inner = self._or()
            if self._peek() != ")":
                raise SegmentError(N_("a '(' is never closed"))
            self._take()
            return inner
        if token in {")", "and", "or"}:
            raise SegmentError(N_("unexpected {token}"), token=repr(token))
        return self._atom(self._take())

    def _atom(self, token: str) -> str:
        # Every atom is made true or false, never NULL, so that "not" means "not". (A CASE
        # rather than COALESCE(condition, 0): PostgreSQL's conditions are booleans, not 0/1.)
        comparison = _COMPARISON.fullmatch(token)
        if comparison is None:
            condition = self._flag(token.lower())
        else:
            name, operator, value = comparison.groups()
            condition = self._compare(name.lower(), _OPERATORS[operator], value)
        return f"(CASE WHEN {condition} THEN 1 ELSE 0 END = 1)"

    def _flag(self, name: str) -> str:
        now = self._context.now
        if name == "all":
            return "1 = 1"
        if name in ANALYTICS_GROUPS:
            return self._among(name)
        if name == "referred":
            return "EXISTS (SELECT 1 FROM referrals r WHERE r.referee_id = c.id)"
        if name == "never_purchased":
            return "NOT EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = c.id)"
        if name == "birthday_month":
            self._params.append(f"{now.astimezone(self._context.zone).month:02d}")
            return "substr(c.birthday, 1, 2) = ?"
        raise _unknown(name)

    def _compare(self, name: str, operator: str, value: str) -> str:
        if name in {"lang", "tier", "tag"}:
            if operator != "=":
                raise SegmentError(N_("{name} takes '=', as in {name}=…"), name=name)
            if not _NAME.fullmatch(value):
                raise SegmentError(
                    N_("{value} is not a valid {name}"), value=repr(value), name=name
                )
            return self._equality(name, value.lower())
        if name == "balance":
            if not re.fullmatch(r"-?\d{1,12}", value):
                raise SegmentError(
                    N_("balance needs a whole number of points, not {value}"), value=repr(value)
                )
            self._params.append(int(value))
            return (
                "(SELECT COALESCE(SUM(e.delta), 0) FROM points_entries e "
                f"WHERE e.customer_id = c.id) {operator} ?"
            )
        if name in RATINGS or name in RFM:
            if not re.fullmatch(r"[1-5]", value):
                raise SegmentError(
                    N_("{name} is compared with a score from 1 to 5, not {value}"),
                    name=name,
                    value=repr(value),
                )
            if name in RFM:
                return self._among(
                    *(f"{name}:{score}" for score in range(1, 6) if _holds(score, operator, value))
                )
            self._params.append(int(value))
            if name == "rating":
                return (
                    "(SELECT r.stars FROM reviews r WHERE r.customer_id = c.id "
                    f"ORDER BY r.updated_at DESC, r.id DESC LIMIT 1) {operator} ?"
                )
            return (
                "(SELECT t.rating FROM tickets t WHERE t.customer_id = c.id AND t.rating "
                f"IS NOT NULL ORDER BY t.rated_at DESC, t.id DESC LIMIT 1) {operator} ?"
            )
        if name in {"inactive", "expiring"}:
            days = _DAYS.fullmatch(value)
            if days is None:
                raise SegmentError(
                    N_("{name} needs a number of days such as 30d, not {value}"),
                    name=name,
                    value=repr(value),
                )
            return self._days(name, operator, int(days.group(1)))
        raise _unknown(name)

    def _among(self, *labels: str) -> str:
        """Customers in any of these analytics groups, as a bound JSON list of ids."""
        self._uses_analytics = True
        analytics = self._context.analytics or {}
        members = sorted({i for label in labels for i in analytics.get(label, frozenset())})
        self._params.append(json.dumps(members))
        return "c.id IN (SELECT value FROM json_each(?))"

    def _equality(self, name: str, value: str) -> str:
        if name == "lang":
            # The language the customer is spoken to in (bot.services.languages): chosen,
            # else their Telegram app's primary subtag if supported, else the default.
            self._params.extend([self._context.default_language, value])
            return (
                "(CASE WHEN c.language IN ('en', 'ru', 'uk') THEN c.language"
                " WHEN lower(substr(c.telegram_language, 1, 2)) IN ('en', 'ru', 'uk')"
                " AND (length(c.telegram_language) = 2 OR substr(c.telegram_language, 3, 1) = '-')"
                " THEN lower(substr(c.telegram_language, 1, 2)) ELSE ? END) = ?"
            )
        if name == "tier":
            tiers = self._context.tiers
            if tiers is not None and value not in {tier.lower() for tier in tiers}:
                raise SegmentError(
                    N_("there is no tier '{tier}' (tiers: {tiers})"),
                    tier=value,
                    tiers=", ".join(tiers),
                )
            self._params.append(value)
            return "lower(c.tier) = ?"
        self._params.append(value)
        return "EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag = ?)"

    def _days(self, name: str, operator: str, days: int) -> str:
        now = self._context.now
        if name == "inactive":
            # Days since the last purchase, or since joining for those who never bought:
            # "now - last OP days" is "last OP' now - days" (OP mirrored), which compares
            # the stored text directly, the same on every backend.
            self._params.append(to_db(now - timedelta(days=days)))
            return (
                "COALESCE((SELECT MAX(p.purchased_at) FROM purchases p "
                f"WHERE p.customer_id = c.id), c.first_seen) {_MIRRORED[operator]} ?"
            )
        # Points that burn within N days: a lot with points left expiring in (now, now + N].
        if operator not in {"<=", "<"}:
            raise SegmentError(N_("expiring takes <= or <, as in expiring<=14d"))
        self._params.extend([to_db(now), to_db(now + timedelta(days=days))])
        return (
            "EXISTS (SELECT 1 FROM points_entries l WHERE l.customer_id = c.id AND l.is_lot = 1"
            f" AND l.expires_at > ? AND l.expires_at {operator} ?"
            " AND l.delta > COALESCE((SELECT SUM(u.points) FROM lot_usage u"
            " WHERE u.lot_id = l.id), 0))"
        )


def _holds(score: int, operator: str, value: str) -> bool:
    bound = int(value)
    return {
        ">=": score >= bound,
        "<=": score <= bound,
        ">": score > bound,
        "<": score < bound,
        "=": score == bound,
    }[operator]


# Staff who never opted in: a CASE, so that a NULL (a forgotten customer) is not "not staff".
_STAFF_NOT_OPTED_IN = (
    "(CASE WHEN (c.telegram_id IN (SELECT value FROM json_each(?))"
    " OR EXISTS (SELECT 1 FROM roles s WHERE s.telegram_id = c.telegram_id))"
    " AND c.promotions_opted_in_at IS NULL THEN 1 ELSE 0 END = 0)"
)


def compile_segment(expression: str, context: SegmentContext) -> Compiled:
    """The SQL condition (over ``customers c``) for an expression, staff who did not opt in
    left out; SegmentError if malformed."""
    if len(expression) > 500:
        raise SegmentError(N_("the segment is too long (500 characters at most)"))
    compiled = _Parser(_tokens(expression), context).parse()
    return Compiled(
        f"({compiled.sql}) AND {_STAFF_NOT_OPTED_IN}",
        (*compiled.params, json.dumps(sorted(context.staff))),
        compiled.uses_analytics,
    )


def normalise(expression: str) -> str:
    """One spelling for storage and display: single spaces, lower-case keywords."""
    return " ".join(expression.split()) or "all"
