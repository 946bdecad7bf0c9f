"""The FAQ at 1,000 entries: import time and question latency.

Builds a 1,000-entry FAQ from CLINC150's training-style phrasings (its 150 intents' 10
phrasings, each entry a different intent's phrasings with a distinct numbered suffix so no
two texts repeat) and times the import through FaqService as the bot runs it: until the
import returns (the FAQ answering, model-free while the model works through the new
phrasings in the background) and until the model is in the index; then asks 300 questions
of the complete index. --wait times the CLI's import, which embeds everything first.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.faq_scale [--entries 1000] [--wait]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from benchmarks.faq_common import (
    SHARED,
    add_engine_options,
    ask_all,
    faq_from,
    fresh_embedder,
    load_average,
    percentile,
)
from bot.services.faq.service import background_threshold


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "clinc150")
    parser.add_argument("--entries", type=int, default=1000)
    add_engine_options(parser)
    parser.add_argument("--wait", action="store_true", help="embed before the import returns")
    arguments = parser.parse_args()
    source = json.loads((arguments.data / "faq_10shot.json").read_text(encoding="utf-8"))
    entries = []
    for number in range(arguments.entries):
        template = source[number % len(source)]
        entries.append(
            {
                "id": f"{template['id']}_{number}",
                "category": template["category"],
                "questions": {
                    "en": [f"{text} (case {number})" for text in template["questions"]["en"]]
                },
                "answer": template["answer"],
            }
        )
    path = Path(tempfile.mkdtemp()) / "faq.json"
    path.write_text(json.dumps(entries))
    phrasings = sum(len(entry["questions"]["en"]) for entry in entries)
    embedder = fresh_embedder(arguments.engine)
    started = time.perf_counter()
    service, storage, import_seconds = await faq_from(
        path,
        embedder,
        None if arguments.wait else background_threshold(embedder),
        contrast=arguments.contrast,
        matcher=arguments.matcher,
    )
    pending = service.pending
    await service.wait_for_model()
    ready_seconds = time.perf_counter() - started
    test = json.loads((arguments.data / "test.json").read_text(encoding="utf-8"))
    cpu: list[float] = []
    _answers, latencies = await ask_all(service, [text for text, _ in test["in_scope"][:300]], cpu)
    print(
        f"{service.backend}: {len(entries)} entries, {phrasings} phrasings; import returned"
        f" in {import_seconds:.1f} s ({pending} phrasings left to the background), model in"
        f" the index after {ready_seconds:.1f} s;"
        f" question p50 {percentile(latencies, 0.5) * 1000:.1f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1000:.1f} ms; CPU per question p50"
        f" {percentile(cpu, 0.5) * 1000:.1f} ms; load average {load_average()}"
        f" (total {time.perf_counter() - started:.0f} s)"
    )
    await storage.close()


if __name__ == "__main__":
    asyncio.run(main())
