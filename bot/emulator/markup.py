"""Validation of reply_markup objects: inline keyboards, reply keyboards, removal, force reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import bad_request

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100

# Exactly one of these makes an inline button do something; a bare text button is refused.
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# At most one of these turns a reply-keyboard button into a request for data.
REPLY_BUTTON_REQUESTS = (
    "request_users",
    "request_user",
    "request_chat",
    "request_managed_bot",
    "request_contact",
    "request_location",
    "request_poll",
    "web_app",
)

MarkupKind = Literal["inline", "reply", "remove", "force_reply"]


@dataclass(frozen=True, slots=True)
class ReplyMarkup:
    kind: MarkupKind
    data: dict[str, Any]

    @property
    def inline(self) -> dict[str, Any] | None:
        """What Telegram echoes in Message.reply_markup: only inline keyboards."""
        return self.data if self.kind == "inline" else None


def parse_reply_markup(value: Any, *, chat_type: str) -> ReplyMarkup:
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        return ReplyMarkup("inline", parse_inline_keyboard(value, chat_type=chat_type))
    if "keyboard" in value:
        return ReplyMarkup("reply", _parse_reply_keyboard(value))
    if value.get("remove_keyboard") is True:
        return ReplyMarkup("remove", value)
    if value.get("force_reply") is True:
        placeholder = value.get("input_field_placeholder")
        if placeholder is not None and not _placeholder_ok(placeholder):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return ReplyMarkup("force_reply", value)
    raise bad_request("can't parse reply keyboard markup JSON object")


def parse_inline_keyboard(value: Any, *, chat_type: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("inline_keyboard"), list):
        raise bad_request('can\'t parse inline keyboard: field "inline_keyboard" must be an Array')
    rows = value["inline_keyboard"]
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(
                'can\'t parse inline keyboard: field "inline_keyboard" must be an Array of Arrays'
            )
        for button in row:
            _check_inline_button(button, chat_type)
        total += len(row)
    if total > MAX_BUTTONS:
        raise bad_request("REPLY_MARKUP_TOO_LONG")
    return value


def _check_inline_button(button: Any, chat_type: str) -> None:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    actions = [name for name in INLINE_BUTTON_ACTIONS if name in button]
    if not actions:
        if button.get("disabled") is True:
            return
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be used"
        )
    action = actions[0]
    if action == "callback_data":
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= (
            MAX_CALLBACK_DATA_BYTES
        ):
            raise bad_request("BUTTON_DATA_INVALID")
    elif action == "url":
        if not is_button_url(button["url"]):
            raise bad_request("BUTTON_URL_INVALID")
    elif action == "web_app" and chat_type != "private":
        raise bad_request("BUTTON_TYPE_INVALID")


def is_button_url(url: Any) -> bool:
    if not isinstance(url, str) or not url or any(char.isspace() for char in url):
        return False
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "tg":
        return bool(parts.netloc or parts.path)
    if scheme not in ("http", "https"):
        return False
    host = parts.hostname or ""
    # Telegram refuses hosts it cannot resolve publicly, such as "localhost".
    return "." in host and not host.startswith(".") and not host.endswith(".")


def _placeholder_ok(placeholder: Any) -> bool:
    return isinstance(placeholder, str) and 1 <= len(placeholder) <= 64


def _parse_reply_keyboard(value: dict[str, Any]) -> dict[str, Any]:
    rows = value["keyboard"]
    if not isinstance(rows, list):
        raise bad_request('can\'t parse reply keyboard markup: field "keyboard" must be an Array')
    normalized_rows: list[list[dict[str, Any]]] = []
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(
                'can\'t parse reply keyboard markup: field "keyboard" must be an Array of Arrays'
            )
        normalized_rows.append([_normalize_reply_button(button) for button in row])
        total += len(row)
    if total > MAX_BUTTONS * 3:
        raise bad_request("REPLY_MARKUP_TOO_LONG")
    placeholder = value.get("input_field_placeholder")
    if placeholder is not None and not _placeholder_ok(placeholder):
        raise bad_request("can't parse reply keyboard markup JSON object")
    return {**value, "keyboard": normalized_rows}


def _normalize_reply_button(button: Any) -> dict[str, Any]:
    if isinstance(button, str):
        if not button:
            raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
        return {"text": button}
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse keyboard button: KeyboardButton must be a String or an Object"
        )
    text = button.get("text")
    if not isinstance(text, str) or not text:
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
    if sum(1 for name in REPLY_BUTTON_REQUESTS if name in button) > 1:
        raise bad_request(
            "can't parse keyboard button: exactly one of the optional fields must be used"
        )
    return button


def reply_keyboard_texts(markup: dict[str, Any]) -> list[str]:
    return [button["text"] for row in markup.get("keyboard", []) for button in row]


def inline_callback_data(markup: dict[str, Any] | None) -> list[str]:
    if not markup:
        return []
    return [
        button["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]
