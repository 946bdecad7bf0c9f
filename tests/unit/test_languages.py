import pytest

from bot.services.languages import effective_language


@pytest.mark.parametrize(
    ("chosen", "telegram", "expected"),
    [
        ("uk", "ru", "uk"),  # a choice beats the app's language
        (None, "ru", "ru"),
        (None, "uk", "uk"),
        (None, "ru-RU", "ru"),  # IETF tags with a region
        (None, "pt-br", "en"),  # unsupported falls back to the default
        (None, None, "en"),
        ("xx", "uk", "uk"),  # an unknown stored choice is ignored
    ],
)
def test_effective_language(chosen, telegram, expected):
    assert effective_language(chosen, telegram, "en") == expected


def test_default_applies_only_when_nothing_else_does():
    assert effective_language(None, "de", "ru") == "ru"
    assert effective_language(None, "en", "ru") == "en"
