"""Settings from the environment and `.env`, in sections; the variables' names are a
contract with operators (docs/configuration.md is generated from these classes)."""

from bot.config.errors import SANDBOX_HINT, SettingsError
from bot.config.settings import Settings, environment_names, load_settings

__all__ = ["SANDBOX_HINT", "Settings", "SettingsError", "environment_names", "load_settings"]
