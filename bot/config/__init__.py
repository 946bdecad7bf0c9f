"""Settings from the environment and `.env`, in sections; the variables' names are a
contract with operators (docs/configuration.md is generated from these classes)."""

from bot.config.errors import SettingsError, sandbox_hint
from bot.config.settings import Settings, environment_names, load_settings

__all__ = ["sandbox_hint", "Settings", "SettingsError", "environment_names", "load_settings"]
