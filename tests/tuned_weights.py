"""Weights standing in for a tuning of the FAQ model where PyTorch is not installed (the
tests of the bot's side of `faq tune`): the top layer's own, nudged."""

import numpy as np

from bot.services.faq.onnx_e5 import OnnxE5Embedder, TunedWeights


def nudged_top_layer(embedder: OnnxE5Embedder, seed: int) -> TunedWeights:
    model, header = embedder.model_file, embedder.model_file.header
    top = header.layers - 1
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, inputs in (("fi", header.hidden), ("fo", header.feed_forward)):
        weight = model.q4_rows(f"l{top}.{name}.w", inputs)
        tensors[f"l{top}.{name}.w"] = weight + rng.normal(0, 0.02, weight.shape)
    return TunedWeights.stored(tensors)
