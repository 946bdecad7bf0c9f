"""What an update or an outgoing call means for the customer's record, in a line of text."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.methods import TelegramMethod
from aiogram.types import CallbackQuery, Message, Update, User

from bot.services.intake import InboundEvent
from storage.repositories import TelegramProfile


def profile_of(user: User) -> TelegramProfile:
    return TelegramProfile(
        telegram_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def describe_message(message: Message) -> str:
    """Text as written, or a bracketed summary of media so the record reads like the chat."""
    if message.text is not None:
        return message.text
    caption = f" {message.caption}" if message.caption else ""
    for attribute, summarise in _MEDIA_SUMMARIES:
        content = getattr(message, attribute)
        if content:
            return summarise(content) + (caption if attribute in _CAPTIONED else "")
    return f"[{_content_type(message)}]"


_MEDIA_SUMMARIES: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("sticker", lambda sticker: f"[sticker {sticker.emoji or ''}]".replace(" ]", "]")),
    ("photo", lambda _photo: "[photo]"),
    ("voice", lambda voice: f"[voice {voice.duration}s]"),
    ("video_note", lambda note: f"[video note {note.duration}s]"),
    ("video", lambda video: f"[video {video.duration}s]"),
    ("animation", lambda _animation: "[animation]"),
    ("audio", lambda audio: f"[audio {audio.title or audio.file_name or ''}]"),
    ("document", lambda document: f"[document {document.file_name or ''}]"),
    ("location", lambda place: f"[location {place.latitude:.5f},{place.longitude:.5f}]"),
    # Not the number: it may be someone else's, and the customer's own is kept in the profile.
    ("contact", lambda _contact: "[contact]"),
    ("poll", lambda poll: f"[poll {poll.question}]"),
    ("dice", lambda dice: f"[dice {dice.emoji} {dice.value}]"),
)
_CAPTIONED = frozenset({"photo", "video", "animation", "audio", "document"})


def message_kind(message: Message) -> str:
    if message.text is not None and message.text.startswith("/"):
        return "command"
    return _content_type(message)


def _content_type(message: Message) -> str:
    content_type = message.content_type
    return str(getattr(content_type, "value", content_type))


def inbound_event(update: Update) -> InboundEvent:
    """The customer-facing meaning of an update; no profile when no customer is involved
    (group chats: agents' messages are recorded by the support feature instead)."""
    if update.message is not None:
        return _message_event(update.update_id, update.message, edited=False)
    if update.edited_message is not None:
        return _message_event(update.update_id, update.edited_message, edited=True)
    if update.callback_query is not None:
        return _callback_event(update.update_id, update.callback_query)
    member = update.my_chat_member
    if member is not None and member.chat.type == ChatType.PRIVATE:
        blocked = member.new_chat_member.status == ChatMemberStatus.KICKED
        return InboundEvent(
            update_id=update.update_id,
            profile=profile_of(member.from_user),
            kind="blocked" if blocked else "unblocked",
            text=None,
            reachable=not blocked,
        )
    return InboundEvent(update_id=update.update_id, profile=None, kind=update.event_type, text=None)


def _message_event(update_id: int, message: Message, *, edited: bool) -> InboundEvent:
    if message.chat.type != ChatType.PRIVATE or message.from_user is None:
        return InboundEvent(update_id=update_id, profile=None, kind="group_message", text=None)
    kind = message_kind(message)
    return InboundEvent(
        update_id=update_id,
        profile=profile_of(message.from_user),
        kind=f"edited_{kind}" if edited else kind,
        text=describe_message(message),
        message_id=message.message_id,
        # A customer writing again after having blocked the bot has evidently unblocked it.
        reachable=True,
    )


def _callback_event(update_id: int, query: CallbackQuery) -> InboundEvent:
    chat = query.message.chat if query.message is not None else None
    if chat is not None and chat.type != ChatType.PRIVATE:
        return InboundEvent(update_id=update_id, profile=None, kind="group_callback", text=None)
    message_id = query.message.message_id if query.message is not None else None
    return InboundEvent(
        update_id=update_id,
        profile=profile_of(query.from_user),
        kind="callback",
        text=query.data,
        message_id=message_id,
        reachable=True,
    )


# Methods that put something in front of the customer; the record holds each of them.
_DELIVERING_PREFIXES = ("send", "copy", "forward", "edit")
_NOT_DELIVERING = frozenset({"sendChatAction"})


def delivered_chat(method: TelegramMethod[Any]) -> int | None:
    """The private chat this call delivers to, or None if it delivers to no customer."""
    name = method.__api_method__
    if name in _NOT_DELIVERING or not (
        name.startswith(_DELIVERING_PREFIXES) or name.startswith("delete")
    ):
        return None
    chat_id = getattr(method, "chat_id", None)
    # Private chats have the user's (positive) id; groups and channels are negative.
    if isinstance(chat_id, int) and chat_id > 0:
        return chat_id
    return None


def describe_call(method: TelegramMethod[Any]) -> tuple[str, str | None, str | None]:
    """(kind, text, meta) of an outgoing call for the record."""
    name = method.__api_method__
    text = getattr(method, "text", None) or getattr(method, "caption", None)
    if name.startswith("copy") or name.startswith("forward"):
        source = getattr(method, "message_id", None) or getattr(method, "message_ids", None)
        text = text or f"[{name} of message {source} from chat {method.from_chat_id}]"  # type: ignore[attr-defined]
    elif name.startswith("delete"):
        text = f"[deleted message {getattr(method, 'message_id', None)}]"
    elif text is None and name != "sendMessage":
        text = f"[{name.removeprefix('send').removeprefix('edit').lower()}]"
    meta = _buttons_meta(getattr(method, "reply_markup", None))
    return name, text, meta


def _buttons_meta(markup: Any) -> str | None:
    rows = getattr(markup, "inline_keyboard", None) or getattr(markup, "keyboard", None)
    if not rows:
        return None
    labels = [
        [button if isinstance(button, str) else button.text for button in row] for row in rows
    ]
    return json.dumps({"buttons": labels}, ensure_ascii=False)
