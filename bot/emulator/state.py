"""What the emulated Telegram remembers: chats, their messages and topics, queries, calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

# Statuses under which the bot can still post into a group.
BOT_PRESENT_STATUSES = frozenset({"creator", "administrator", "member", "restricted"})

# Every right ChatMemberAdministrator carries; what add_*group does not grant is False.
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)
_GROUP_ONLY_RIGHTS = ("can_pin_messages", "can_manage_topics")
_CHANNEL_ONLY_RIGHTS = ("can_post_messages", "can_edit_messages")


@dataclass(slots=True)
class RecordedCall:
    """One Bot API call as the emulator saw and answered it."""

    index: int
    method: str
    params: JSON
    ok: bool
    error_code: int | None
    description: str | None
    result: Any
    at: float
    # "http" for calls the bot made, "webhook_reply" for methods returned in a webhook response.
    source: str = "http"


@dataclass(slots=True)
class StoredMessage:
    chat_id: int
    message_id: int
    payload: JSON
    from_bot: bool
    sender_id: int
    kind: str
    thread_id: int | None = None
    # The markup exactly as sent, of any kind; payload only echoes inline keyboards.
    reply_markup: JSON | None = None
    versions: list[JSON] = field(default_factory=list)
    deleted: bool = False
    reactions: list[JSON] = field(default_factory=list)

    def replace_payload(self, payload: JSON) -> None:
        self.versions.append(self.payload)
        self.payload = payload


@dataclass(slots=True)
class ForumTopicInfo:
    message_thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    is_closed: bool = False
    creator_id: int | None = None

    def as_forum_topic(self) -> JSON:
        topic: JSON = {
            "message_thread_id": self.message_thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic


@dataclass(slots=True)
class CallbackQueryRecord:
    query_id: str
    user_id: int
    data: str | None
    chat_id: int | None
    message_id: int | None
    issued_at: float
    answer: JSON | None = None


class EmulatedChat:
    """A chat the bot can see: a user's private chat, a group, a supergroup or a forum."""

    def __init__(
        self,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        is_forum: bool = False,
    ) -> None:
        self.id = chat_id
        self.type = chat_type
        self.title = title
        self.username = username
        self.first_name = first_name
        self.last_name = last_name
        self.is_forum = is_forum
        self.bot_status = "member"
        self.bot_rights: dict[str, bool] = {}
        self.members: dict[int, str] = {}
        self.topics: dict[int, ForumTopicInfo] = {}
        self.last_reply_keyboard: JSON | None = None
        self.pinned_message_ids: list[int] = []
        self.menu_button: JSON | None = None
        # Every message the bot sent here, in order, kept even after deletion so that
        # per-user cursors (next_message) stay stable.
        self.bot_log: list[StoredMessage] = []
        self._messages: dict[int, StoredMessage] = {}
        # In groups message 1 is the "group created" service message, which the bot never
        # sees; starting after it also keeps topic ids clear of the General topic's id 1.
        self._last_message_id = 0 if chat_type == "private" else 1
        self.brief = self._brief()

    def __repr__(self) -> str:
        label = self.title or self.first_name or self.username
        return f"EmulatedChat(id={self.id}, type={self.type!r}, {label!r})"

    def _brief(self) -> JSON:
        brief: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value:
                brief[key] = value
        if self.is_forum:
            brief["is_forum"] = True
        return brief

    # --- messages ---

    def allocate_message_id(self) -> int:
        self._last_message_id += 1
        return self._last_message_id

    def store(self, message: StoredMessage) -> None:
        self._messages[message.message_id] = message
        if message.from_bot:
            self.bot_log.append(message)

    def get(self, message_id: int) -> StoredMessage | None:
        return self._messages.get(message_id)

    def remove(self, message_id: int) -> StoredMessage | None:
        message = self._messages.pop(message_id, None)
        if message is not None:
            message.deleted = True
        return message

    @property
    def messages(self) -> list[JSON]:
        """Every message currently in the chat (edits applied), oldest first."""
        return [message.payload for message in self._messages.values()]

    @property
    def stored_messages(self) -> list[StoredMessage]:
        return list(self._messages.values())

    @property
    def bot_messages(self) -> list[JSON]:
        return [message.payload for message in self._messages.values() if message.from_bot]

    def messages_in(self, thread_id: int | None) -> list[JSON]:
        """Messages of one forum topic (``None``: the General topic), oldest first."""
        return [
            message.payload for message in self._messages.values() if message.thread_id == thread_id
        ]

    def drop_thread(self, thread_id: int) -> None:
        for message_id in [
            m.message_id for m in self._messages.values() if m.thread_id == thread_id
        ]:
            self.remove(message_id)

    # --- membership ---

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def bot_has_right(self, right: str) -> bool:
        if self.type == "private" or self.bot_status == "creator":
            return True
        return self.bot_status == "administrator" and self.bot_rights.get(right, False)

    def bot_member(self, bot_user: JSON) -> JSON:
        """The bot's ChatMember object in this chat."""
        if self.bot_status == "administrator":
            member: JSON = {
                "status": "administrator",
                "user": bot_user,
                "can_be_edited": False,
                "is_anonymous": False,
            }
            for right in ADMIN_RIGHTS:
                if right in _CHANNEL_ONLY_RIGHTS and self.type != "channel":
                    continue
                if right in _GROUP_ONLY_RIGHTS and self.type == "channel":
                    continue
                if right == "can_manage_topics" and not self.is_forum:
                    continue
                member[right] = self.bot_rights.get(right, False)
            return member
        if self.bot_status == "creator":
            return {"status": "creator", "user": bot_user, "is_anonymous": False}
        if self.bot_status == "kicked":
            return {"status": "kicked", "user": bot_user, "until_date": 0}
        return {"status": self.bot_status, "user": bot_user}
