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
                tuning.tune_faq, [(e.id, e.phrasings()) for e in entries], options
            )
        except ValueError as error:
            print(f"nothing tuned: {error}", file=sys.stderr)
            return EXIT_INVALID
        stored = await faq.store_tuning(
            entries, result.weights, tuning.TUNED_THRESHOLDS, result.report, CLI
        )
        report = result.report
        print(
            f"FAQ model tuned in {report['seconds']} s on {report['phrasings']} phrasings "
            f"(graph agreement {report['graph_agreement']}); stored as "
            f"{stored.weights_sha256[:16]}: the bot answers with it from its next FAQ reload"
        )
        return EXIT_OK
    finally:
        await storage.close()
