"""/faq_gaps, /faq_reload, /faq_stats: admins look after the FAQ from Telegram."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.access import Actor
from bot.services.faq.content import FaqFileError
from bot.services.faq.service import FaqService
from bot.telegram.text import cut, fit_lines

router = Router(name=__name__)

SHOWN = 10
EXAMPLE_SHOWN = 200


@router.message(Command("faq_gaps"))
async def gaps(message: Message, faq: FaqService) -> None:
    found = await faq.gaps(limit=SHOWN)
    if not found:
        await message.answer(_("No unanswered questions so far."))
        return
    lines = [_("Questions the FAQ could not answer, most asked first:")]
    for gap in found:
        others = len(gap.questions) - 1
        suffix = _(" (+{count} similar)").format(count=others) if others else ""
        if gap.picked:
            suffix += " → " + _("picked: {entries}").format(entries=html.quote(gap.picks()))
        lines.append(f"• {gap.count}× {html.quote(cut(gap.example, EXAMPLE_SHOWN))}{suffix}")
    await message.answer(fit_lines(lines))


@router.message(Command("faq_reload"))
async def reload_file(message: Message, faq: FaqService, settings: Settings) -> None:
    assert message.from_user is not None
    if settings.faq.file is None:
        await message.answer(
            _("No FAQ file is configured: set FAQ_FILE, or import with `python -m bot faq import`.")
        )
        return
    try:
        report = await faq.import_file(
            settings.faq.file, merge=False, actor=Actor.telegram(message.from_user.id)
        )
    except FaqFileError as error:
        problems = "\n".join(f"• {html.quote(problem)}" for problem in error.problems[:SHOWN])
        await message.answer(
            _("Nothing changed: the file has {count} problem(s):").format(count=len(error.problems))
            + "\n"
            + problems
        )
        return
    await message.answer(
        _(
            "FAQ reloaded: {added} added, {updated} updated, {removed} removed; {total} entries."
        ).format(
            added=report.added, updated=report.updated, removed=report.removed, total=report.total
        )
        + (
            "\n"
            + _(
                "The language model is still reading {count} new phrasings: until it has,"
                " answers come from word matching alone."
            ).format(count=report.pending)
            if report.pending
            else ""
        )
    )


@router.message(Command("faq_stats"))
async def stats(message: Message, faq: FaqService) -> None:
    counts = await faq.entry_stats()
    if not counts:
        await message.answer(_("No FAQ answers have been shown yet."))
        return
    ranked = sorted(counts.items(), key=lambda item: -item[1].views)[:20]
    lines = [_("FAQ answers: views · 👍 · 👎")]
    lines += [
        f"<code>{html.quote(entry_id)}</code>: {row.views} · {row.helpful} · {row.unhelpful}"
        for entry_id, row in ranked
    ]
    await message.answer("\n".join(lines))
