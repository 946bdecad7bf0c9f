import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings

TOKEN = "123456:AAH" + "x" * 32
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("BOT_TOKEN", "DATABASE_URL", "ADMIN_IDS", "SUPPORT_CHAT_ID", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_admin_ids_are_comma_separated(monkeypatch):
    monkeypatch.setenv("ADMIN_IDS", "12, 34,56")
    assert load_settings().telegram.admin_ids == (12, 34, 56)


def test_malformed_admin_ids_name_the_variable(monkeypatch):
    monkeypatch.setenv("ADMIN_IDS", "12,bob")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("ADMIN_IDS must be numbers separated by commas")


def test_env_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nSUPPORT_CHAT_ID=-100123\n")
    settings = load_settings()
    assert settings.require_token() == TOKEN
    assert settings.support.chat_id == -100123


def test_missing_token_is_explained():
    with pytest.raises(SettingsError, match="BOT_TOKEN is not set: create a bot with @BotFather"):
        load_settings().require_token()


def run_bot(tmp_path, **env):
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_start_without_token_in_a_venv_names_this_python(tmp_path):
    """`python -m bot sandbox` fails outside the venv: the hint names the interpreter that
    runs the bot, which has everything installed."""
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "BOT_TOKEN is not set: create a bot with @BotFather and put its token in .env "
        "as BOT_TOKEN=123456:ABC…",
        "No token yet? Try everything locally first (an emulated Telegram with a web chat "
        "for customers, an agent and an admin):",
        f"  {sys.executable} -m bot sandbox",
        f"With a token: echo 'BOT_TOKEN=123456:ABC…' >> .env (in {tmp_path}, where the bot "
        f"reads .env), then {sys.executable} -m bot",
    ]


def test_start_without_token_outside_a_venv_gives_a_fresh_clones_commands(tmp_path):
    """The bot installed for the system's Python (no venv): the commands that work from a
    fresh clone, a venv first."""
    system_python = Path(sys.base_prefix) / "bin" / "python3"
    site_packages = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    result = subprocess.run(
        [str(system_python), "-m", "bot"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{site_packages}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[1:] == [
        "No token yet? Try everything locally first (an emulated Telegram with a web chat "
        "for customers, an agent and an admin); from a fresh clone:",
        "  python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python -m bot sandbox",
        "With a token: echo 'BOT_TOKEN=123456:ABC…' >> .env (in the clone, where the bot "
        "reads .env), then .venv/bin/python -m bot",
    ]


def test_malformed_settings_stop_start_up(tmp_path):
    result = run_bot(tmp_path, BOT_TOKEN="nonsense", DATABASE_URL="mysql://x")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("BOT_TOKEN does not look like a bot token") for line in lines)
    assert any(line.startswith("DATABASE_URL has an unsupported scheme") for line in lines)


@pytest.mark.parametrize(
    ("text", "count", "seconds"),
    [("20 per 10 seconds", 20, 10), ("30/minute", 30, 60), ("5 per second", 5, 1)],
)
def test_throttle_rate_notation(text, count, seconds):
    from bot.domain.rates import Rate

    assert Rate.parse(text) == Rate(count, seconds)


def test_bad_throttle_rate_is_refused(monkeypatch):
    monkeypatch.setenv("THROTTLE_RATE", "lots")
    with pytest.raises(SettingsError, match="THROTTLE_RATE is not a rate"):
        load_settings()
