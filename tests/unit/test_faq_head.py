"""The FAQ's classifier head (bot/services/faq/head.py): numpy only, no model needed."""

from collections.abc import Sequence

import numpy as np

from bot.services.faq.head import KernelHead, fit_head
from bot.services.faq.matcher import HybridMatcher


def _unit(matrix: np.ndarray) -> np.ndarray:
    result: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return result


def _two_entries(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two entries' phrasings: noisy points around two directions that share a large part."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=16)
    first, second = shared + rng.normal(size=16), shared + rng.normal(size=16)
    points = [first + 0.3 * rng.normal(size=16) for _ in range(6)]
    points += [second + 0.3 * rng.normal(size=16) for _ in range(6)]
    return _unit(np.asarray(points)), np.repeat([0, 1], 6)


def test_the_head_separates_two_toy_entries() -> None:
    vectors, owners = _two_entries()
    head = fit_head(vectors, owners, 2)
    assert isinstance(head, KernelHead)
    assert head.held_out_accuracy == 1.0
    assert head.weights.shape == (12, 2)
    # New points near each entry go to it.
    rng = np.random.default_rng(1)
    for entry in (0, 1):
        centre = vectors[owners == entry].mean(axis=0)
        question = _unit((centre + 0.05 * rng.normal(size=16))[None])[0]
        assert int(np.argmax(head.scores(vectors @ question))) == entry


def test_cross_validation_picks_the_ridge_from_the_candidates() -> None:
    vectors, owners = _two_entries()
    head = fit_head(vectors, owners, 2, ridges=(0.01, 0.1, 1.0))
    assert head is not None and head.ridge in (0.01, 0.1, 1.0)
    # Where every candidate separates the entries equally well the largest ridge wins (ties
    # go to the smoother fit); labels at random leave cross-validation a choice to make.
    assert head.ridge == 1.0
    shuffled = np.random.default_rng(3).permutation(owners)
    noisy = fit_head(vectors, shuffled, 2, ridges=(0.01, 0.1, 1.0))
    assert noisy is not None and noisy.held_out_accuracy < 1.0


def test_the_head_is_deterministic() -> None:
    vectors, owners = _two_entries()
    first = fit_head(vectors, owners, 2)
    second = fit_head(vectors.copy(), owners.copy(), 2)
    assert first is not None and second is not None
    assert np.array_equal(first.weights, second.weights)
    assert first.ridge == second.ridge


def test_no_head_for_one_entry_or_too_many_phrasings() -> None:
    vectors, owners = _two_entries()
    assert fit_head(vectors[:6], owners[:6], 1) is None
    assert fit_head(vectors, owners, 2, max_phrasings=5) is None


def test_leaving_an_entry_out_scores_only_the_other_entries() -> None:
    vectors, owners = _two_entries()
    head = fit_head(vectors, owners, 2, held_out_entries=True)
    assert head is not None and head.unseen is not None
    assert np.all(np.isneginf(head.unseen[owners == 0, 0]))
    assert np.all(np.isfinite(head.unseen[owners == 0, 1]))


class _Lookup:
    """An embedder over fixed vectors (the toy entries), by text."""

    name = "toy"
    seconds_per_text = 0.0

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self._vectors = vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[text] for text in texts])


def _two_entry_faq() -> tuple[list[str], _Lookup, list[tuple[str, list[str]]]]:
    """Two entries' phrasings, each text embedded as `_two_entries` gives it."""
    vectors, owners = _two_entries()
    texts = [f"entry {owner} phrasing {index}" for index, owner in enumerate(owners)]
    embedder = _Lookup(dict(zip(texts, vectors, strict=True)))
    entries = [
        (f"e{entry}", [t for t, o in zip(texts, owners, strict=True) if o == entry])
        for entry in (0, 1)
    ]
    return texts, embedder, entries


def test_the_matcher_with_the_head_answers_in_the_same_shape() -> None:
    texts, embedder, entries = _two_entry_faq()
    plain = HybridMatcher(entries, embedder)
    learned = HybridMatcher(entries, embedder, head=True)
    for text in texts[:2]:
        assert [m.entry_id for m in plain.match(text).matches] == ["e0", "e1"]
        result = learned.match(text)
        assert [m.entry_id for m in result.matches] == ["e0", "e1"]
        assert isinstance(result.confident, bool)


def test_by_default_the_head_ranks_and_the_plain_score_decides() -> None:
    texts, embedder, entries = _two_entry_faq()
    default = HybridMatcher(entries, embedder)
    nearest = HybridMatcher(entries, embedder, head=False)
    assert default.ranks_only and not nearest.ranks_only
    assert default.threshold == nearest.threshold
    for text in texts:
        with_head, without = default.match(text), nearest.match(text)
        # Same scores shown and the same confidence rule; only the order may differ.
        shown = {m.entry_id: m.score for m in with_head.matches}
        assert shown == {m.entry_id: m.score for m in without.matches}
