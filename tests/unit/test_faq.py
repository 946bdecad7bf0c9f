"""FAQ content validation, import semantics and the matcher, without Telegram."""

import json

import pytest

from bot.services.faq.content import FaqFileError, parse_entries, read_file
from bot.services.faq.matcher import HybridMatcher, default_embedder
from bot.services.faq.service import SAMPLE_FAQ, FaqService

EMBEDDER = default_embedder()


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


def test_answer_falls_back_to_a_language_the_entry_has():
    (item,) = parse_entries([entry("x", answer={"ru": "ответ"})])
    assert item.answer_in("uk") == "ответ"


@pytest.fixture
async def faq(storage):
    service = FaqService(storage, EMBEDDER)
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
async def test_customers_phrasing_finds_the_entry(faq, question, expected):
    answer = await faq.ask(question, record=False)
    assert answer.result.best.entry_id == expected
    assert answer.result.confident


async def test_heavy_typos_still_rank_the_right_entry_first(faq):
    answer = await faq.ask("whre is my ordr", record=False)
    assert answer.result.best.entry_id == "order_status"


@pytest.mark.parametrize(
    "question",
    [
        "what is the capital of france",
        "расскажи анекдот про программистов",
        "скільки років Шевченку",
    ],
)
async def test_out_of_scope_questions_are_declined(faq, question):
    answer = await faq.ask(question, record=False)
    assert not answer.result.confident


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


def test_lexical_matcher_works_without_the_model():
    entries = parse_entries(json.loads(SAMPLE_FAQ.read_text()))
    matcher = HybridMatcher([(e.id, e.phrasings()) for e in entries], None)
    assert matcher.backend == "lexical"
    assert matcher.match("какие у вас часы работы").best.entry_id == "opening_hours"
