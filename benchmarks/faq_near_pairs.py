"""Near pairs: does the FAQ tell "how do I get points?" from "how do I spend them?"

Entries that share most of their words (earning vs spending points, return vs exchange,
delivery time vs cost, opening vs closing time) are where a nearest-neighbour matcher
answers confidently and wrongly. Two sets written by the team, each question in en/ru/uk,
mixed or transliterated and labelled with its entry: `sample`
(benchmarks/data/faq_near_pairs.json) is asked against the sample FAQ as it ships, `shop`
(faq_near_pairs_shop.json) against the shop-like FAQ inside it. Each is split: `design` may
be looked at while designing, `held_out` is evaluated only at the end.

Prints, with the near-pair contrast and without it (the ablation): top-1; answered and
correct; answered but wrong (the confident-wrong rate: the customer gets another entry's
answer); not answered (offered a choice or declined); and offered a choice that holds the
right entry. Counts what the customer sees (the service's outcome, after "did you mean").

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.faq_near_pairs \\
        [--set sample|shop] [--split design|held_out|all] [--no-contrast]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from benchmarks.faq_common import add_engine_options, ask_all, faq_from, fresh_embedder
from bot.services.faq.service import SAMPLE_FAQ

DATA = Path(__file__).resolve().parent / "data"
SETS = {"sample": DATA / "faq_near_pairs.json", "shop": DATA / "faq_near_pairs_shop.json"}
SPLITS = ("design", "held_out")


async def measure(
    faq: Path,
    questions: list[tuple[str, str]],
    engine: str,
    *,
    contrast: bool,
    show: bool,
    matcher: str = "default",
) -> str:
    service, storage, _ = await faq_from(
        faq, fresh_embedder(engine), contrast=contrast, matcher=matcher
    )
    answers, _ = await ask_all(service, [text for text, _ in questions])
    await storage.close()
    total = len(questions)
    top1 = answered_right = answered_wrong = offered_right = 0
    for answer, (text, intent) in zip(answers, questions, strict=True):
        best = answer.result.best.entry_id if answer.result.best else None
        top1 += best == intent
        if answer.outcome == "answered":
            answered_right += best == intent
            answered_wrong += best != intent
            if show and best != intent:
                print(f"    wrong: {text!r} -> {best} (is {intent})")
        elif answer.outcome == "suggested":
            offered_right += intent in {entry.id for entry in answer.choices}
    return (
        f"{'contrast' if contrast else 'no contrast':>11}: top-1 {top1 / total:.3f},"
        f" answered correct {answered_right / total:.3f},"
        f" confident-wrong {answered_wrong / total:.3f},"
        f" not answered {(total - answered_right - answered_wrong) / total:.3f}"
        f" (a choice holding the right entry {offered_right / total:.3f})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="sample")
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="design")
    parser.add_argument("--show", action="store_true", help="print each confident-wrong answer")
    add_engine_options(parser)
    arguments = parser.parse_args()
    check = json.loads(SETS[arguments.set].read_text(encoding="utf-8"))
    if check["faq"] == "sample":
        faq = SAMPLE_FAQ
    else:
        faq = Path(tempfile.mkdtemp()) / "faq.json"
        faq.write_text(json.dumps(check["faq"], ensure_ascii=False), encoding="utf-8")
    splits = SPLITS if arguments.split == "all" else (arguments.split,)
    questions = [
        (text, intent)
        for intent, item in check["intents"].items()
        for split in splits
        for text in item[split]
    ]
    print(f"set {arguments.set}, split {arguments.split}: {len(questions)} questions")
    for contrast in (True, False) if arguments.contrast else (False,):
        line = await measure(
            faq,
            questions,
            arguments.engine,
            contrast=contrast,
            show=arguments.show,
            matcher=arguments.matcher,
        )
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
