"""A classifier head that learns the FAQ from its own phrasings (numpy only, closed form).

Kernel ridge regression, one-vs-rest over all entries at once: every phrasing is a point,
its target the one-hot row of its entry, the kernel exp(sharpness · (cosine − 1)) + 1 on the
matcher's centred e5 vectors (+1: the bias). Nearest neighbours give each phrasing one vote
by its similarity; the ridge weighs phrasings against each other, so a phrasing that looks
like a neighbouring entry's counts for less and what sets an entry apart counts for more.
The sharp kernel keeps it local: a linear kernel (the plain ridge on the vectors) reached
0.76 on BANKING77 against nearest neighbours' 0.81; this one 0.82 alone (docs/faq.md).

Fitted when the FAQ is loaded: one eigendecomposition of the phrasings' kernel, after which
each candidate ridge costs a few matrix products, and its leave-one-phrasing-out accuracy
comes in closed form (the hat matrix's diagonal): the ridge is chosen on the FAQ's own
phrasings, per FAQ. A question then costs one kernel row times the dual weights
(phrasings × entries), a few microseconds on a few hundred entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# exp(SHARPNESS · (cos − 1)): chosen by the leave-one-phrasing-out accuracy on BANKING77's
# and CLINC150's FAQs (0.803 and 0.946 at 2; 0.788 and 0.94 at 5; the linear kernel 0.72).
HEAD_SHARPNESS = 2.0
# Candidate ridges; the FAQ's own leave-one-phrasing-out accuracy picks one (ties: larger).
HEAD_RIDGES = (0.03, 0.1, 0.3, 1.0)
# Past this many phrasings the head is not fitted (the matcher works without it): the
# eigendecomposition is cubic (measured on this 2-core machine beside other work: 770
# phrasings 0.3 s, 1,500 1.8 s, 3,000 13-16 s) and its kernel and eigenvectors take
# 2 x phrasings^2 x 8 bytes while it runs (2,000: 64 MB); a question costs a kernel row
# times phrasings x entries weights (1,500 phrasings: 0.4 ms).
HEAD_MAX_PHRASINGS = 2000


@dataclass(frozen=True)
class KernelHead:
    # Dual weights: phrasings × entries.
    weights: np.ndarray
    ridge: float
    # Leave-one-phrasing-out accuracy at that ridge (each phrasing against the rest).
    held_out_accuracy: float
    sharpness: float = HEAD_SHARPNESS
    # With held_out_entries: per phrasing, the head's scores for the other entries from a
    # fit that never saw the phrasing's own entry (own entry: -inf); phrasings × entries.
    unseen: np.ndarray | None = None
    # With keep_held_out: each phrasing's leave-one-out scores (phrasings × entries).
    held_out: np.ndarray | None = None

    def scores(self, cosines: np.ndarray) -> np.ndarray:
        """Per entry, for a question whose cosines to every phrasing are `cosines`."""
        result: np.ndarray = kernel(cosines, self.sharpness) @ self.weights
        return result


def kernel(cosines: np.ndarray, sharpness: float = HEAD_SHARPNESS) -> np.ndarray:
    result: np.ndarray = np.exp(sharpness * (cosines - 1.0)) + 1.0
    return result


def fit_head(
    vectors: np.ndarray,
    owners: np.ndarray,
    entries: int,
    *,
    sharpness: float = HEAD_SHARPNESS,
    ridges: tuple[float, ...] = HEAD_RIDGES,
    max_phrasings: int = HEAD_MAX_PHRASINGS,
    centred: bool = False,
    held_out_entries: bool = False,
    keep_held_out: bool = False,
) -> KernelHead | None:
    """vectors: unit rows, one per phrasing; owners: each phrasing's entry (0..entries-1).
    None when there is nothing to learn (one entry) or too much (see HEAD_MAX_PHRASINGS)."""
    count = len(vectors)
    if entries < 2 or count == 0 or count > max_phrasings:
        return None
    # Single precision throughout (the ridges keep the system well conditioned): half the
    # memory while it runs, which is what bounds the FAQ's size here.
    points = np.ascontiguousarray(vectors, dtype=np.float32)
    gram = points @ points.T
    gram -= 1.0
    gram *= sharpness
    np.exp(gram, out=gram)
    gram += 1.0
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    del gram
    eigenvalues = np.maximum(eigenvalues, 0.0)
    targets = np.zeros((count, entries), dtype=np.float32)
    targets[np.arange(count), owners] = 1.0
    if centred:
        targets -= 1.0 / entries
    projected = eigenvectors.T @ targets
    best: tuple[float, float] | None = None
    kept: np.ndarray | None = None
    for ridge in sorted(ridges, reverse=True):
        shrink = (eigenvalues / (eigenvalues + ridge)).astype(np.float32)
        fitted = eigenvectors @ (shrink[:, None] * projected)
        leverage = np.einsum("ij,ij,j->i", eigenvectors, eigenvectors, shrink)
        # Leave-one-out predictions of a linear smoother: (fitted - h·y) / (1 - h).
        held_out = (fitted - leverage[:, None] * targets) / (1.0 - leverage)[:, None]
        accuracy = float(np.mean(held_out.argmax(axis=1) == owners))
        if best is None or accuracy > best[1] + 1e-9:
            best = (ridge, accuracy)
            kept = held_out if keep_held_out else None
    assert best is not None
    ridge, accuracy = best
    weights = eigenvectors @ ((1.0 / (eigenvalues + ridge))[:, None] * projected)
    unseen = None
    if held_out_entries:
        shrink = eigenvalues / (eigenvalues + ridge)
        fitted = eigenvectors @ (shrink[:, None] * projected)
        unseen = np.empty((count, entries), dtype=np.float32)
        starts = np.r_[0, np.flatnonzero(np.diff(owners)) + 1, count]
        for start, end in zip(starts[:-1], starts[1:], strict=True):
            rows = eigenvectors[start:end]
            hat = (rows * shrink) @ rows.T
            # Leave the whole entry out: (I - H_GG)^-1 (fitted_G - H_GG y_G), the other
            # entries' columns only matter (its own is set to -inf).
            block = np.linalg.solve(
                np.eye(end - start, dtype=np.float32) - hat,
                fitted[start:end] - hat @ targets[start:end],
            )
            block[:, owners[start]] = -np.inf
            unseen[start:end] = block
    return KernelHead(weights.astype(np.float32), ridge, accuracy, sharpness, unseen, kept)
