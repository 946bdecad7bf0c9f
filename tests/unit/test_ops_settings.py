"""The operations settings: WEBHOOK_*, REDIS_URL, LOG_FORMAT, each refused in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings

TOKEN = "123456:AAH" + "x" * 32
NAMES = ("WEBHOOK_URL", "WEBHOOK_SECRET", "REDIS_URL", "LOG_FORMAT", "HTTP_PORT", "BOT_TOKEN")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEBHOOK_URL", "ftp://bot.example.com/hook", "WEBHOOK_URL is not an http(s) URL"),
        ("WEBHOOK_URL", "https://bot.example.com/metrics", "WEBHOOK_URL has a path the HTTP"),
        ("WEBHOOK_SECRET", "has spaces in it", "WEBHOOK_SECRET has characters Telegram"),
        ("WEBHOOK_SECRET", "x" * 257, "WEBHOOK_SECRET has characters Telegram"),
        ("REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL is not a redis:// URL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be text or json"),
        ("WEBHOOK_LEASE_SECONDS", "0", "WEBHOOK_LEASE_SECONDS"),
    ],
)
def test_a_bad_value_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_webhook_needs_the_http_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/telegram/webhook")
    monkeypatch.setenv("HTTP_PORT", "0")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == "WEBHOOK_URL needs the HTTP server: set HTTP_PORT to a port"


def test_webhook_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.telegram.webhook_url is None and settings.telegram.redis_url is None
    assert settings.logging.format == "text"
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/tg/hook")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    settings = load_settings()
    assert settings.webhook_path == "/tg/hook"
    assert settings.logging.format == "json"
    # Unset, the secret is derived from the token: the same in every replica, valid for
    # Telegram, and not the token itself.
    secret = settings.webhook_secret_token()
    assert secret == load_settings().webhook_secret_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
    assert "xxxxxxxx" not in secret
    monkeypatch.setenv("WEBHOOK_SECRET", "  chosen_secret-1 ")
    assert load_settings().webhook_secret_token() == "chosen_secret-1"
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com")
    assert load_settings().webhook_path == "/"
