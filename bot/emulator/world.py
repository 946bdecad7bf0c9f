"""The shared state of one emulated Telegram, and what its users do in it.

Method handlers (methods.py) change it on the bot's behalf; EmulatedUser changes it on a
person's behalf. Everything runs on one asyncio loop, so no locking is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ScenarioError, bad_request, chat_not_found, forbidden
from .formatting import utf16_len
from .markup import inline_callback_data, reply_keyboard_texts
from .media import FileRegistry
from .state import (
    ADMIN_RIGHTS,
    BOT_PRESENT_STATUSES,
    JSON,
    CallbackQueryRecord,
    EmulatedChat,
    ForumTopicInfo,
    RecordedCall,
    StoredMessage,
)
from .updates import UpdateQueue

if TYPE_CHECKING:
    from .users import EmulatedUser

DEFAULT_TOPIC_COLOR = 7322096
TOPIC_COLORS = frozenset({7322096, 16766590, 13338331, 9367192, 16749490, 16478047})

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")
_URL = re.compile(r"\bhttps?://[^\s<>\"]+")


def detect_entities(text: str) -> list[JSON]:
    """Entities Telegram's clients attach to what a person types."""
    entities: list[JSON] = []
    found: list[tuple[int, int, str]] = []
    command = _COMMAND.match(text)
    if command:
        found.append((command.start(), command.end(), "bot_command"))
    found.extend((match.start(), match.end(), "mention") for match in _MENTION.finditer(text))
    found.extend((match.start(), match.end(), "url") for match in _URL.finditer(text))
    for start, end, kind in sorted(found):
        offset = utf16_len(text[:start])
        entities.append({"type": kind, "offset": offset, "length": utf16_len(text[start:end])})
    return entities


def without_reply(payload: JSON) -> JSON:
    """A message as embedded in reply_to_message: Telegram does not nest replies further."""
    if "reply_to_message" not in payload:
        return payload
    return {key: value for key, value in payload.items() if key != "reply_to_message"}


@dataclass(slots=True)
class BotProfile:
    """What setMyName/Description/ShortDescription, setChatMenuButton and friends stored."""

    names: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    short_descriptions: dict[str, str] = field(default_factory=dict)
    default_menu_button: JSON | None = None
    default_admin_rights: dict[bool, JSON] = field(default_factory=dict)


class World:
    """Users, chats, files, the update queue and the call log of one emulated bot."""

    def __init__(
        self,
        *,
        token: str,
        bot_username: str,
        bot_first_name: str,
        privacy_mode: bool,
        callback_query_timeout: float,
    ) -> None:
        bot_id_text = token.partition(":")[0]
        if not bot_id_text.isdigit():
            raise ValueError("a bot token starts with the bot's numeric id: '123456:ABC...'")
        self.token = token
        self.bot_id = int(bot_id_text)
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.privacy_mode = privacy_mode
        self.callback_query_timeout = callback_query_timeout
        self.users: dict[int, EmulatedUser] = {}
        self.chats: dict[int, EmulatedChat] = {}
        self._chats_by_username: dict[str, EmulatedChat] = {}
        self.files = FileRegistry()
        self.updates = UpdateQueue()
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.profile = BotProfile()
        self.calls: list[RecordedCall] = []
        self.calls_by_method: defaultdict[str, list[RecordedCall]] = defaultdict(list)
        self._user_ids = itertools.count(700_000_001)
        self._supergroup_ids = itertools.count(1_000_000_001)
        self._group_ids = itertools.count(400_000_001)
        self._query_ids = itertools.count(4_382_000_000_000_000_001)
        self._media_group_ids = itertools.count(13_600_000_000_000_001)
        self._change: asyncio.Event | None = None
        # Called (synchronously, on the loop) after every change; see BotAPIEmulator.subscribe.
        self.listeners: list[Callable[[], None]] = []

    @staticmethod
    def now() -> int:
        return int(time.time())

    # --- change notification ---

    def notify(self) -> None:
        change, self._change = self._change, None
        if change is not None:
            change.set()
        for listener in list(self.listeners):
            listener()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,
        describe: Callable[[], str],
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(describe())
            if self._change is None:
                self._change = asyncio.Event()
            change = self._change
            # Re-check at least every 50 ms so predicates over outside state also work.
            # asyncio.timeout, not wait_for: on Python 3.11 a cancellation that arrives just as
            # wait_for times out can come back as TimeoutError, which this loop would swallow
            # (suspected where a sandbox stopped by SIGTERM while seeding went on to serve).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.05)):
                    await change.wait()

    def record_call(self, call: RecordedCall) -> None:
        self.calls.append(call)
        self.calls_by_method[call.method].append(call)
        self.notify()

    def next_call_index(self) -> int:
        return len(self.calls)

    def describe_recent_calls(self, limit: int = 15) -> str:
        if not self.calls:
            return "the bot has made no Bot API calls at all"
        lines = [f"last {min(limit, len(self.calls))} of {len(self.calls)} Bot API calls:"]
        for call in self.calls[-limit:]:
            target = call.params.get("chat_id", "")
            outcome = "ok" if call.ok else f"{call.error_code} {call.description}"
            summary = call.params.get("text") or call.params.get("caption") or ""
            if isinstance(summary, str) and len(summary) > 60:
                summary = summary[:57] + "..."
            lines.append(f"  #{call.index} {call.method}(chat_id={target}) {outcome} {summary!r}")
        return "\n".join(lines)

    # --- users and chats ---

    def register_user(self, user: EmulatedUser) -> None:
        if user.id in self.users:
            raise ValueError(f"user id {user.id} is already taken")
        self.users[user.id] = user

    def allocate_user_id(self) -> int:
        user_id = next(self._user_ids)
        while user_id in self.users:
            user_id = next(self._user_ids)
        return user_id

    def private_chat(self, user: EmulatedUser, *, create: bool) -> EmulatedChat | None:
        chat = self.chats.get(user.id)
        if chat is None and create:
            chat = EmulatedChat(
                user.id,
                "private",
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
            )
            self.chats[user.id] = chat
        return chat

    def add_group(
        self,
        title: str,
        *,
        chat_id: int | None,
        supergroup: bool,
        is_forum: bool,
        username: str | None,
        bot_status: str,
        bot_rights: dict[str, bool],
        members: Iterable[EmulatedUser],
    ) -> EmulatedChat:
        if chat_id is None:
            chat_id = (
                -(1_000_000_000_000 + next(self._supergroup_ids))
                if supergroup
                else -next(self._group_ids)
            )
        if chat_id in self.chats:
            raise ValueError(f"chat id {chat_id} is already taken")
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat = EmulatedChat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            username=username,
            is_forum=is_forum and supergroup,
        )
        chat.bot_status = bot_status
        chat.bot_rights = {right: bool(bot_rights.get(right, False)) for right in ADMIN_RIGHTS}
        for member in members:
            chat.members[member.id] = "member"
        self.chats[chat_id] = chat
        if username:
            self._chats_by_username[username.lower()] = chat
        return chat

    def resolve_chat(self, chat_id: int | str) -> EmulatedChat:
        """The chat a chat_id parameter designates, or Telegram's "chat not found"."""
        chat: EmulatedChat | None
        if isinstance(chat_id, int):
            chat = self.chats.get(chat_id)
        elif chat_id.startswith("@"):
            chat = self._chats_by_username.get(chat_id[1:].lower())
        else:
            chat = None
        if chat is None:
            raise chat_not_found()
        return chat

    def check_can_post(self, chat: EmulatedChat) -> None:
        if chat.type == "private":
            user = self.users.get(chat.id)
            if user is not None and user.blocked:
                raise forbidden("bot was blocked by the user")
            return
        if chat.bot_status in BOT_PRESENT_STATUSES:
            return
        kind = "supergroup chat" if chat.type == "supergroup" else f"{chat.type} chat"
        if chat.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {kind}")
        raise forbidden(f"bot is not a member of the {kind}")

    def new_media_group_id(self) -> str:
        return str(next(self._media_group_ids))

    # --- what users do ---

    def _bot_receives(self, chat: EmulatedChat, payload: JSON, explicit_reply: bool) -> bool:
        if chat.type == "private":
            return True
        if chat.bot_status not in BOT_PRESENT_STATUSES:
            return False
        if not self.privacy_mode or chat.bot_status in ("administrator", "creator"):
            return True
        return self._passes_privacy_mode(payload, explicit_reply)

    def _passes_privacy_mode(self, payload: JSON, explicit_reply: bool) -> bool:
        """Privacy mode lets through commands, replies to the bot, mentions, service messages."""
        text = payload.get("text") or payload.get("caption")
        if text is None:
            return not any(key in payload for key in _CONTENT_KEYS)
        reply = payload.get("reply_to_message")
        replies_to_bot = (
            explicit_reply and reply is not None and reply.get("from", {}).get("id") == self.bot_id
        )
        mentioned = f"@{self.bot_user['username']}".lower() in text.lower()
        return text.startswith("/") or replies_to_bot or mentioned

    def user_sends(
        self,
        user: EmulatedUser,
        content: JSON,
        *,
        chat: EmulatedChat | None,
        thread_id: int | None,
        reply_to: JSON | None,
    ) -> JSON:
        if chat is None:
            if user.blocked:
                # The client's "Restart" button unblocks the bot before sending.
                self.set_blocked(user, blocked=False)
            chat = self.private_chat(user, create=True)
            assert chat is not None
        else:
            self._join(chat, user)
        topic_message: StoredMessage | None = None
        if thread_id is not None:
            topic = chat.topics.get(thread_id)
            if topic is None:
                raise ScenarioError(f"{chat!r} has no open topic {thread_id}")
            topic_message = chat.get(thread_id)
        payload: JSON = {
            "message_id": chat.allocate_message_id(),
            "from": user.as_user(),
            "chat": chat.brief,
            "date": self.now(),
        }
        if thread_id is not None:
            payload["message_thread_id"] = thread_id
            payload["is_topic_message"] = True
        payload.update(content)
        explicit_reply = False
        if reply_to is not None:
            target = chat.get(int(reply_to["message_id"]))
            if target is None:
                raise ScenarioError(f"message {reply_to['message_id']} is not in {chat!r}")
            payload["reply_to_message"] = without_reply(target.payload)
            explicit_reply = True
        elif topic_message is not None:
            payload["reply_to_message"] = without_reply(topic_message.payload)
        kind = next((key for key in _CONTENT_KEYS if key in content), "text")
        chat.store(
            StoredMessage(
                chat.id,
                payload["message_id"],
                payload,
                from_bot=False,
                sender_id=user.id,
                kind=kind,
                thread_id=thread_id,
            )
        )
        if self._bot_receives(chat, payload, explicit_reply):
            self.updates.push({"message": payload})
        self.notify()
        return payload

    def _join(self, chat: EmulatedChat, user: EmulatedUser) -> None:
        status = chat.members.get(user.id)
        if status in ("kicked", "left"):
            raise ScenarioError(f"{user!r} is not a member of {chat!r} ({status})")
        if status is None:
            chat.members[user.id] = "member"

    def user_edits(self, user: EmulatedUser, message: JSON, text: str) -> JSON:
        chat = self.chats.get(int(message["chat"]["id"]))
        stored = chat.get(int(message["message_id"])) if chat else None
        if chat is None or stored is None:
            raise ScenarioError("the message to edit no longer exists")
        if stored.sender_id != user.id or stored.kind != "text":
            raise ScenarioError("people can only edit their own text messages")
        payload = {**stored.payload, "text": text, "edit_date": self.now()}
        entities = detect_entities(text)
        if entities:
            payload["entities"] = entities
        else:
            payload.pop("entities", None)
        stored.replace_payload(payload)
        if self._bot_receives(chat, payload, explicit_reply=False):
            self.updates.push({"edited_message": payload})
        self.notify()
        return payload

    def user_presses(self, user: EmulatedUser, message: JSON, data: str, *, forge: bool) -> JSON:
        chat_id = int(message["chat"]["id"])
        chat = self.chats.get(chat_id)
        stored = chat.get(int(message["message_id"])) if chat else None
        if not forge:
            if stored is None:
                raise ScenarioError(f"message {message['message_id']} no longer exists")
            available = inline_callback_data(stored.payload.get("reply_markup"))
            if data not in available:
                raise ScenarioError(
                    f"message {stored.message_id} has no inline button with callback_data "
                    f"{data!r}; its buttons carry {available!r}"
                )
        query_id = str(next(self._query_ids))
        query: JSON = {
            "id": query_id,
            "from": user.as_user(),
            "message": stored.payload if stored is not None else message,
            "chat_instance": str(abs(chat_id) * 7919 + 104729),
            "data": data,
        }
        self.callback_queries[query_id] = CallbackQueryRecord(
            query_id=query_id,
            user_id=user.id,
            data=data,
            chat_id=chat_id,
            message_id=int(message["message_id"]),
            issued_at=time.monotonic(),
        )
        self.updates.push({"callback_query": query})
        self.notify()
        return query

    def reply_keyboard_for(self, chat: EmulatedChat) -> list[str]:
        return reply_keyboard_texts(chat.last_reply_keyboard or {})

    def set_blocked(self, user: EmulatedUser, *, blocked: bool) -> None:
        if user.blocked == blocked:
            return
        user.blocked = blocked
        chat = self.private_chat(user, create=False)
        if chat is None:
            return
        member = {"status": "member", "user": self.bot_user}
        kicked = {"status": "kicked", "user": self.bot_user, "until_date": 0}
        self.updates.push(
            {
                "my_chat_member": {
                    "chat": chat.brief,
                    "from": user.as_user(),
                    "date": self.now(),
                    "old_chat_member": member if blocked else kicked,
                    "new_chat_member": kicked if blocked else member,
                }
            }
        )
        self.notify()

    def create_topic(
        self,
        chat: EmulatedChat,
        name: str,
        *,
        creator: JSON,
        icon_color: int = DEFAULT_TOPIC_COLOR,
        icon_custom_emoji_id: str | None = None,
    ) -> tuple[ForumTopicInfo, StoredMessage]:
        thread_id = chat.allocate_message_id()
        created: JSON = {"name": name, "icon_color": icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        payload: JSON = {
            "message_id": thread_id,
            "from": creator,
            "chat": chat.brief,
            "date": self.now(),
            "message_thread_id": thread_id,
            "is_topic_message": True,
            "forum_topic_created": created,
        }
        topic = ForumTopicInfo(
            message_thread_id=thread_id,
            name=name,
            icon_color=icon_color,
            icon_custom_emoji_id=icon_custom_emoji_id,
            creator_id=int(creator["id"]),
        )
        stored = StoredMessage(
            chat.id,
            thread_id,
            payload,
            from_bot=bool(creator.get("is_bot")) and creator["id"] == self.bot_id,
            sender_id=int(creator["id"]),
            kind="service",
            thread_id=thread_id,
        )
        chat.topics[thread_id] = topic
        chat.store(stored)
        self.notify()
        return topic, stored

    def delete_topic(self, chat: EmulatedChat, thread_id: int) -> None:
        if chat.topics.pop(thread_id, None) is None:
            raise ScenarioError(f"{chat!r} has no topic {thread_id}")
        chat.drop_thread(thread_id)
        chat.pinned_message_ids = [
            message_id for message_id in chat.pinned_message_ids if chat.get(message_id)
        ]
        self.notify()

    def forum_topic_of(self, chat: EmulatedChat, thread_id: int) -> ForumTopicInfo:
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise bad_request("TOPIC_ID_INVALID")
        return topic


# Message fields that carry content; a message with none of them (and no text) is a service one.
_CONTENT_KEYS = (
    "text",
    "photo",
    "animation",
    "document",
    "video",
    "audio",
    "voice",
    "sticker",
    "video_note",
    "venue",
    "location",
    "contact",
    "dice",
    "poll",
)
