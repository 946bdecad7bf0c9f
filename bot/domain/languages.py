"""The languages customers are answered in."""

SUPPORTED_LANGUAGES = ("en", "ru", "uk")
