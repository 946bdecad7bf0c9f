"""Translating between Telegram's types and the domain's: the only code that knows both."""
