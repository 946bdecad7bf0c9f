"""An emulated Telegram Bot API server for end-to-end tests (see README.md)."""

from .emulator import DEFAULT_TOKEN, BotAPIEmulator
from .errors import BotAPIError, ScenarioError
from .schema import BotAPISchema, UploadedFile
from .state import EmulatedChat, ForumTopicInfo, RecordedCall, StoredMessage
from .users import EmulatedUser

__all__ = [
    "DEFAULT_TOKEN",
    "BotAPIEmulator",
    "BotAPIError",
    "BotAPISchema",
    "EmulatedChat",
    "EmulatedUser",
    "ForumTopicInfo",
    "RecordedCall",
    "ScenarioError",
    "StoredMessage",
    "UploadedFile",
]
