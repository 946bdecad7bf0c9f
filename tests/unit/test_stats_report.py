"""The one text of the retention figures: what Telegram and the CLI both show."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

from bot.services.analytics import AgentCsat, Figures, Segment
from bot.services.stats_report import stats_report


def _figures(**overrides: object) -> Figures:
    values: dict[str, object] = {}
    for field in fields(Figures):
        if field.name in ("segments", "rfm"):
            continue
        kind = str(field.type)
        if "datetime" in kind:
            values[field.name] = datetime(2026, 11, 1, tzinfo=UTC)
        elif "None" in kind:
            values[field.name] = None
        elif "Decimal" in kind:
            values[field.name] = Decimal("0.00")
        elif "list" in kind:
            values[field.name] = []
        else:
            values[field.name] = 0
    values.update(overrides)
    return Figures(**values)  # type: ignore[arg-type]


def test_an_agents_name_is_escaped_for_telegram_and_left_alone_for_the_terminal():
    figures = _figures(
        csat=50.0,
        csat_ratings=2,
        csat_by_agent=[AgentCsat(7, "<Kim & co>", 1, 1, 100.0)],
    )
    telegram = stats_report(figures, "EUR", "1 Nov – 7 Nov 2026")
    terminal = stats_report(figures, "EUR", "1 Nov – 7 Nov 2026", markup=False)
    assert "  · &lt;Kim &amp; co&gt;: 100.0 % (1)" in telegram
    assert "  · <Kim & co>: 100.0 % (1)" in terminal
    assert telegram.startswith("📊 <b>Last 0 days</b> · 1 Nov – 7 Nov 2026")
    assert "<b>" not in terminal and terminal.startswith("📊 Last 0 days")


def test_figures_that_cannot_be_computed_read_as_a_dash_not_as_none():
    text = stats_report(_figures(crr=None, churn=None), "EUR", "period", markup=False)
    assert "CRR: — % · churn: — %" in text
    assert "None" not in text


def test_the_readers_language_comes_from_the_translation_it_passes():
    russian = {
        "lost": "ушедшие",
        "CSAT: {csat} % of {ratings} ratings": "Удовлетворённость: {csat} % из {ratings} оценок",
    }
    translated = stats_report(
        _figures(segments=[Segment("lost", 3, Decimal("30.00"), 3, Decimal("10.00"), 100.0)]),
        "EUR",
        "period",
        lambda text: russian.get(text, text),
    )
    assert "• ушедшие: 3 · 30.00 EUR (100.0 %) · 3, 10.00" in translated
    assert "Удовлетворённость: — % из 0 оценок" in translated
