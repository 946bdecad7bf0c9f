"""BANKING77 (real customer questions): top-1 accuracy and latency of the FAQ matcher.

Imports faq_1shot/5shot/10shot.json, asks all 3,080 test questions through FaqService.ask
(the same path as the bot, without recording), and prints top-1 accuracy, the share answered
confidently, p50/p99 latency per question and the import time. Data: ../shared/banking77
(PolyAI, CC BY 4.0) unless --data says otherwise.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.faq_banking77 [--engine E]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
from pathlib import Path

from benchmarks.faq_common import (
    SHARED,
    add_engine_options,
    ask_all,
    faq_from,
    fresh_embedder,
    percentile,
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "banking77")
    parser.add_argument("--shots", default="1,5,10")
    add_engine_options(parser)
    arguments = parser.parse_args()
    with (arguments.data / "test.csv").open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    questions = [row["text"] for row in rows]
    for shots in arguments.shots.split(","):
        service, storage, import_seconds = await faq_from(
            arguments.data / f"faq_{shots}shot.json",
            fresh_embedder(arguments.engine),
            contrast=arguments.contrast,
            matcher=arguments.matcher,
        )
        answers, latencies = await ask_all(service, questions)
        hits = sum(
            answer.result.best is not None and answer.result.best.entry_id == row["category"]
            for answer, row in zip(answers, rows, strict=True)
        )
        confident = sum(answer.result.confident for answer in answers)
        print(
            f"{service.backend:>40} {shots:>2}-shot: top-1 {hits / len(rows):.3f}"
            f" ({hits}/{len(rows)}), confident {confident / len(rows):.3f},"
            f" p50 {percentile(latencies, 0.5) * 1000:.1f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.1f} ms,"
            f" import {import_seconds:.1f} s"
        )
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main())
