"""docs/configuration.md and .env.example are generated from the settings classes: they name
every setting, and a change to the classes that is not regenerated fails here (and in CI)."""

import re

from bot.config import environment_names, load_settings
from bot.config.reference import ENV_EXAMPLE, MARKDOWN, env_example, main, markdown


def test_the_committed_reference_files_are_the_generated_ones():
    assert MARKDOWN.read_text() == markdown(), "run python -m bot.config.reference"
    assert ENV_EXAMPLE.read_text() == env_example(), "run python -m bot.config.reference"
    assert main(["--check"]) == 0


def test_env_example_names_every_setting_at_its_default(monkeypatch, tmp_path):
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    documented = dict(names)
    assert set(environment_names()) <= set(documented)
    # Uncommented as written, the example is a valid configuration that equals the defaults.
    monkeypatch.chdir(tmp_path)
    values = {name: value for name, value in documented.items() if name in environment_names()}
    assert load_settings(values, env_file=None) == load_settings({}, env_file=None)


def test_every_setting_has_one_line_of_help():
    for line in markdown().splitlines():
        if line.startswith("| `"):
            assert line.rstrip(" |").split("|")[-1].strip(), line
