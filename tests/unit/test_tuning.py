"""The tuning itself (bot/services/faq/tuning.py): needs PyTorch, the `tune` extra, so it
runs only where that is installed (CI does not install the ~700 MB wheel)."""

import pytest

torch = pytest.importorskip("torch")

from bot.services.faq.onnx_e5 import OnnxE5Embedder  # noqa: E402
from bot.services.faq.tuning import (  # noqa: E402
    FrozenOutputs,
    TrainableEncoder,
    TuningSettings,
    embed,
    mix_weights,
    trained_state,
    tune,
)

ENTRIES = [
    ("hours", ["When do you open?", "What are your opening hours?", "Are you open on Sunday?"]),
    ("delivery", ["Do you deliver?", "How much is delivery?", "Can you bring it to my home?"]),
    ("points", ["How many points do I have?", "What is my balance?", "Show my bonus points"]),
]


@pytest.fixture(scope="module")
def embedder():
    return OnnxE5Embedder()


def changed(before, after):
    return {name for name in before if not torch.equal(before[name], after[name])}


def test_the_result_is_the_share_asked_of_the_way_from_packaged_to_trained(embedder):
    encoder = TrainableEncoder(embedder, tuned_layers=2)
    frozen_before = {
        name: parameter.detach().clone()
        for name, parameter in encoder.named_parameters()
        if not parameter.requires_grad
    }
    packaged = trained_state(encoder)
    assert packaged and all(name.startswith(("layers.10.", "layers.11.")) for name in packaged)
    # The training, run to the end (share 1), moves every trained layer.
    tune(
        encoder,
        FrozenOutputs(embedder, encoder),
        ENTRIES,
        TuningSettings(layers=2, steps=3, lr=1e-3, classes=3, tuned_share=1.0),
    )
    trained = trained_state(encoder)
    assert changed(packaged, trained) == set(packaged)
    mix_weights(encoder, packaged, trained, 0.25)
    for name, parameter in encoder.named_parameters():
        if name in packaged:
            expected = packaged[name] + 0.25 * (trained[name] - packaged[name])
            assert torch.allclose(parameter, expected, atol=1e-6)
        else:  # the frozen layers are never touched
            assert torch.equal(parameter, frozen_before[name])
    mix_weights(encoder, packaged, trained, 0.0)
    assert not changed(packaged, trained_state(encoder))


def test_a_share_of_none_leaves_the_packaged_encoder_and_a_share_between_sits_between(
    embedder,
):
    texts = [text for _id, phrasings in ENTRIES for text in phrasings]
    results = {}
    for share in (0.0, 0.5, 1.0):
        torch.manual_seed(0)
        encoder = TrainableEncoder(embedder, tuned_layers=2)
        frozen = FrozenOutputs(embedder, encoder)
        settings = TuningSettings(layers=2, steps=3, lr=1e-3, classes=3, tuned_share=share)
        tune(encoder, frozen, ENTRIES, settings)
        results[share] = embed(encoder, frozen, texts)
    packaged = embedder.embed(texts)
    # Share 0: the packaged encoder's vectors (the PyTorch copy agrees with the int8 graph
    # to quantisation).
    assert (results[0.0] * packaged).sum(1).min() > 0.98
    moved_half = 1 - (results[0.5] * results[0.0]).sum(1)
    moved_all = 1 - (results[1.0] * results[0.0]).sum(1)
    assert moved_all.max() > 0.001
    assert (moved_half < moved_all).all()
