"""CLINC150: does the FAQ matcher know when it doesn't know?

Imports the 10-shot FAQ (150 intents), asks the 4,500 in-scope and 1,000 out-of-scope test
questions, and uses the matcher's own `confident` flag as shipped. In-scope accuracy counts
an answer only when it is confident and correct; out-of-scope recall is the share declined.
Data: ../shared/clinc150 (Larson et al. 2019, CC BY 3.0) unless --data says otherwise.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.faq_clinc150 [--engine E]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    parser.add_argument("--data", type=Path, default=SHARED / "clinc150")
    add_engine_options(parser)
    arguments = parser.parse_args()
    test = json.loads((arguments.data / "test.json").read_text(encoding="utf-8"))
    in_scope = [(text, intent) for text, intent in test["in_scope"]]
    out_of_scope = list(test["out_of_scope"])
    service, storage, import_seconds = await faq_from(
        arguments.data / "faq_10shot.json",
        fresh_embedder(arguments.engine),
        contrast=arguments.contrast,
        matcher=arguments.matcher,
    )
    answers, latencies = await ask_all(service, [text for text, _ in in_scope])
    right = sum(
        answer.result.confident
        and answer.result.best is not None
        and answer.result.best.entry_id == intent
        for answer, (_, intent) in zip(answers, in_scope, strict=True)
    )
    top1 = sum(
        answer.result.best is not None and answer.result.best.entry_id == intent
        for answer, (_, intent) in zip(answers, in_scope, strict=True)
    )
    declined_answers, more = await ask_all(service, out_of_scope)
    declined = sum(not answer.result.confident for answer in declined_answers)
    latencies += more
    print(
        f"{service.backend}: in-scope accuracy (confident and correct)"
        f" {right / len(in_scope):.3f}, top-1 {top1 / len(in_scope):.3f};"
        f" out-of-scope recall {declined / len(out_of_scope):.3f};"
        f" p50 {percentile(latencies, 0.5) * 1000:.1f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1000:.1f} ms; import {import_seconds:.1f} s"
    )
    await storage.close()


if __name__ == "__main__":
    asyncio.run(main())
