"""`python -m bot faq tune`: the FAQ model's encoder tuned on the FAQ's own phrasings.

The bot's process never trains (PyTorch is ~700 MB and not one of its dependencies): the
operator runs this where PyTorch is installed (`pip install -e '.[tune]'`), against the
bot's database, and every replica picks the tuned encoder up at its next FAQ reload, for as
long as the FAQ's phrasings stay the ones it learned (docs/faq.md, "The tuned encoder").
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Settings
from bot.services.access import CLI
from bot.services.faq.service import FaqService
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

# PyTorch is optional: without it this command explains what it needs instead of failing.
try:
    from bot.services.faq import tuning
except ImportError as missing:  # no PyTorch here
    tuning = None  # type: ignore[assignment]
    _MISSING = str(missing)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNAVAILABLE = 3
EXIT_NOT_BETTER = 4


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    if tuning is None:
        print(
            f"faq tune needs PyTorch, which the bot itself does not ({_MISSING}): install it "
            "with `pip install -e '.[tune]'` (or the CPU build from download.pytorch.org) "
            "where you run this command",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        faq = FaqService(storage, None)
        await faq.load()
        entries = faq.entries
        options = tuning.TuningSettings(steps=arguments.steps, seed=arguments.seed)
        print(f"tuning the FAQ model on {len(entries)} entries ({options.steps} steps)...")
        try:
            result = await asyncio.to_thread(
                tuning.tune_faq, [(e.id, e.questions) for e in entries], options
            )
        except ValueError as error:
            print(f"nothing tuned: {error}", file=sys.stderr)
            return EXIT_INVALID
        report = result.report
        print(
            f"FAQ model tuned in {report['seconds']} s on {report['phrasings']} phrasings "
            f"(graph agreement {report['graph_agreement']}). Checked on "
            f"{report['held_out']} phrasings kept back and {report['off_topic_probes']} "
            "off-topic questions:"
        )
        floor, with_lead = result.thresholds
        print(f"  (the tuned model's thresholds for this FAQ: {floor} / {with_lead})")
        for name in ("untuned", "tuned"):
            figures = report[name]
            print(
                f"  {name:8} right and sure {figures['confident_right']:.3f}, wrong and sure "
                f"{figures['confident_wrong']:.3f}, off-topic declined "
                f"{figures['off_topic_declined']:.3f}, top-1 {figures['top1']:.3f}"
            )
        if not result.kept and not arguments.force:
            print(
                "not stored: on this FAQ the tuned model does not answer better without "
                "answering worse elsewhere; the bot keeps the packaged model (--force stores "
                "it anyway)",
                file=sys.stderr,
            )
            return EXIT_NOT_BETTER
        # What was stored learned all but the phrasings kept back: the model that was
        # checked is the model the bot gets.
        stored = await faq.store_tuning(
            entries, result.weights, result.thresholds, {**report, "kept": result.kept}, CLI
        )
        print(
            f"stored as {stored.weights_sha256[:16]}: the bot answers with it from its next "
            "FAQ reload"
        )
        return EXIT_OK
    finally:
        await storage.close()
