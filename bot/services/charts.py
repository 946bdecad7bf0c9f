"""Analytics as pictures (PNG bytes): weekly active and retained customers, and the cohort
table. Telegram-free; the labels come translated from the caller.

matplotlib with its Agg backend draws without a display. It is imported only when a chart
is drawn (the bot starts without paying for it), and the object API (Figure, not pyplot)
keeps no global state, so a chart can be drawn in a worker thread. Its bundled DejaVu Sans
has the Cyrillic letters the ru and uk labels need.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.services.analytics import CohortRow, WeekActivity


def period_label(start: datetime, end: datetime, locale: str, zone: ZoneInfo) -> str:
    """The days a period [start, end) covers, in the business's calendar, as the locale
    writes dates: "1 Nov – 30 Nov 2026" (en), "1 нояб. – 30 нояб. 2026 г." (ru)."""
    first = start.astimezone(zone).date()
    # The end is exclusive: a period ending at midnight ends on the day before.
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    head = "d MMM" if first.year == last.year else "d MMM y"
    return (
        f"{format_date(first, head, locale=locale)} – {format_date(last, 'd MMM y', locale=locale)}"
    )


@dataclass(frozen=True)
class WeeklyLabels:
    title: str
    active: str
    retained: str


@dataclass(frozen=True)
class CohortLabels:
    title: str
    cohort: str  # the rows' heading
    month: str  # "month {n}" pattern for the columns' headings, with {n}


def weekly_chart(weeks: Sequence[WeekActivity], labels: WeeklyLabels) -> bytes:
    """Bars of active customers per week with the retained ones inside, the figures on top."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 4.8), dpi=100)
    axes = figure.subplots()
    positions = list(range(len(weeks)))
    active = [week.active for week in weeks]
    retained = [week.retained for week in weeks]
    axes.bar(positions, active, color="#9ecae1", label=labels.active)
    axes.bar(positions, retained, color="#3182bd", width=0.5, label=labels.retained)
    for position, week in zip(positions, weeks, strict=True):
        if week.active:
            axes.annotate(
                f"{week.active}/{week.retained}",
                (position, week.active),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    axes.set_xticks(positions, [f"{week.start:%d.%m}" for week in weeks], fontsize=8)
    axes.set_ylim(0, max([*active, 1]) * 1.15)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(labels.title)
    axes.legend(loc="upper left")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure, labels.title)


def cohort_chart(rows: Sequence[CohortRow], labels: CohortLabels) -> bytes:
    """The cohort table as a heat map: a row per cohort, the share buying in each month."""
    import numpy as np
    from matplotlib.figure import Figure

    width = max((len(row.shares) for row in rows), default=1)
    matrix = np.full((max(len(rows), 1), width), np.nan)
    for index, row in enumerate(rows):
        matrix[index, : len(row.shares)] = row.shares
    figure = Figure(figsize=(1.6 + 0.75 * width, 1.2 + 0.42 * max(len(rows), 1)), dpi=100)
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for (y, x), share in np.ndenumerate(matrix):
        if not np.isnan(share):
            axes.text(
                x,
                y,
                f"{share:.0f}%",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share > 60 else "black",
            )
    axes.set_xticks(range(width), [labels.month.format(n=n) for n in range(width)], fontsize=8)
    axes.set_yticks(
        range(len(rows)), [f"{row.cohort} ({row.customers})" for row in rows], fontsize=8
    )
    axes.set_ylabel(labels.cohort)
    axes.set_title(labels.title)
    figure.tight_layout()
    return _png(figure, labels.title)


def _png(figure: object, title: str) -> bytes:
    from matplotlib.figure import Figure

    assert isinstance(figure, Figure)
    buffer = io.BytesIO()
    # The title in the file's metadata too, for whoever gets the file without the chat.
    figure.savefig(buffer, format="png", metadata={"Title": title})
    return buffer.getvalue()
