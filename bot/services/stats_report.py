"""The retention figures as people read them: one text for the admins' /stats in Telegram and
for `python -m bot stats`, in the reader's language.

The caller passes its translation function, so this module knows no i18n machinery: the
handler passes aiogram's gettext for the admin's locale, the CLI the identity (English).
Extraction finds the texts here because they are written as ``_("…")`` calls.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from bot.services.analytics import Figures

Translate = Callable[[str], str]
_MARKUP = re.compile(r"</?b>")


def _english(text: str) -> str:
    return text


def _value(number: object) -> str:
    return "—" if number is None else str(number)


def stats_report(
    figures: Figures,
    currency: str,
    period: str,
    _: Translate = _english,
    *,
    markup: bool = True,
) -> str:
    """The figures as lines of text; `markup` keeps Telegram's HTML (bold headings, escaped
    names), without it the same text reads as plain terminal output."""
    segment_names = {
        "new": _("new"),
        "frequent": _("frequent"),
        "medium": _("medium"),
        "rare": _("rare"),
        "lost": _("lost"),
    }

    def quote(name: str) -> str:
        return html.escape(name, quote=False) if markup else name

    lines = [
        _("📊 <b>Last {days} days</b> · {period}").format(days=figures.days, period=period),
        _(
            "Customers: {total} known, {active} active, {buyers} bought "
            "({new} new, {returning} returning), {lost} lost"
        ).format(
            total=figures.customers_total,
            active=figures.customers_active,
            buyers=figures.buyers,
            new=figures.new,
            returning=figures.returning,
            lost=figures.lost,
        ),
        _(
            "CRR: {crr} % · churn: {churn} % (customers at the start {start}, "
            "at the end {end}, gained {gained})"
        ).format(
            crr=_value(figures.crr),
            churn=_value(figures.churn),
            start=figures.customers_start,
            end=figures.customers_end,
            gained=figures.gained,
        ),
        _(
            "Revenue: {revenue} {currency} (new {new}, returning {returning}; refunds "
            "{refunds}) in {purchases} purchases; average check {check}"
        ).format(
            revenue=figures.revenue,
            currency=currency,
            new=figures.revenue_new,
            returning=figures.revenue_returning,
            refunds=figures.refunds,
            purchases=figures.purchases,
            check=_value(figures.average_check),
        ),
        _(
            "Purchases per buyer: {frequency} · repeat-purchase rate: {repeat} % · CLV: {clv}"
        ).format(
            frequency=_value(figures.purchase_frequency),
            repeat=_value(figures.repeat_purchase_rate),
            clv=_value(figures.clv),
        ),
        _(
            "Points: +{issued} issued, −{spent} spent, −{expired} expired, {refunded} "
            "refunded; outstanding {liability} ({value} {currency})"
        ).format(
            issued=figures.points_issued,
            spent=figures.points_spent,
            expired=figures.points_expired,
            refunded=figures.points_refunded,
            liability=figures.points_liability,
            value=figures.points_liability_value,
            currency=currency,
        ),
        _(
            "FAQ: {questions} questions, {answered} answered, {suggested} offered a choice, "
            "{declined} declined; 👍 {helpful} 👎 {unhelpful}; deflection {deflection} % "
            "({deflected} answers not followed by a ticket within 24 h)"
        ).format(
            questions=figures.faq_questions,
            answered=figures.faq_answered,
            suggested=figures.faq_suggested,
            declined=figures.faq_declined,
            helpful=figures.faq_helpful,
            unhelpful=figures.faq_unhelpful,
            deflection=_value(figures.faq_deflection_rate),
            deflected=figures.faq_deflected,
        ),
        _(
            "Support: {opened} tickets opened, {closed} closed; median first response "
            "{first} min, resolution {resolution} min; first answered within {sla_minutes} "
            "min: {sla} %"
        ).format(
            opened=figures.tickets_opened,
            closed=figures.tickets_closed,
            first=_value(figures.first_response_median_minutes),
            resolution=_value(figures.resolution_median_minutes),
            sla_minutes=_value(figures.sla_minutes),
            sla=_value(figures.first_response_within_sla),
        ),
        _("CSAT: {csat} % of {ratings} ratings").format(
            csat=_value(figures.csat), ratings=figures.csat_ratings
        ),
        *(
            f"  · {quote(agent.agent)}: {_value(agent.csat)} % ({agent.ratings})"
            for agent in figures.csat_by_agent
        ),
        _("NPS: {nps} ({answers} answers) · {reviews} reviews, average rating {rating}").format(
            nps=_value(figures.nps),
            answers=figures.nps_answers,
            reviews=figures.reviews,
            rating=_value(figures.average_rating),
        ),
        _(
            "Broadcasts: {started} started, {delivered} delivered, {blocked} blocked, "
            "{failed} failed; {unsubscribed} unsubscribed"
        ).format(
            started=figures.broadcasts_started,
            delivered=figures.broadcast_delivered,
            blocked=figures.broadcast_blocked,
            failed=figures.broadcast_failed,
            unsubscribed=figures.unsubscribed,
        ),
        "",
        _("<b>Segments</b> (customers · revenue, share · purchases, average check):"),
        *(
            f"• {segment_names.get(segment.name, segment.name)}: {segment.customers} · "
            f"{segment.revenue} {currency} ({_value(segment.revenue_share)} %) · "
            f"{segment.purchases}, {_value(segment.average_check)}"
            for segment in figures.segments
        ),
    ]
    text = "\n".join(lines)
    return text if markup else _MARKUP.sub("", text)
