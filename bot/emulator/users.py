"""Emulated Telegram users: what a test does as a person talking to the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ScenarioError
from .media import TINY_PNG
from .state import JSON, EmulatedChat
from .world import detect_entities

if TYPE_CHECKING:
    from .world import World

_DEFAULT_DOCUMENT = b"%PDF-1.4\n% emulated document\n%%EOF\n"
_DEFAULT_VOICE = b"OggS\x00\x02" + bytes(58)
_DEFAULT_VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(40)


class EmulatedUser:
    """A person: sends messages, presses buttons, blocks the bot, reads what the bot sent.

    Unless ``chat`` is given, actions happen in the user's private chat with the bot. Each
    action injects the update Telegram would send and returns the Message/CallbackQuery dict.
    """

    def __init__(
        self,
        world: World,
        *,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_premium: bool = False,
    ) -> None:
        self._world = world
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.is_premium = is_premium
        self.blocked = False
        self._cursor = 0
        self._user = self._as_user()

    def __repr__(self) -> str:
        handle = f" @{self.username}" if self.username else ""
        return f"EmulatedUser(id={self.id}, {self.first_name!r}{handle})"

    def _as_user(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        if self.is_premium:
            user["is_premium"] = True
        return user

    def as_user(self) -> JSON:
        """The Bot API User object for this person."""
        return self._user

    @property
    def chat(self) -> EmulatedChat | None:
        """The private chat with the bot; None until the user has started the bot."""
        return self._world.private_chat(self, create=False)

    def start_chat(self) -> EmulatedChat:
        """Open the private chat without sending anything (as if /start was long ago)."""
        chat = self._world.private_chat(self, create=True)
        assert chat is not None
        return chat

    @property
    def messages(self) -> list[JSON]:
        """The bot's messages in the private chat as stored now (edits applied), oldest first."""
        chat = self.chat
        return chat.bot_messages if chat is not None else []

    # --- sending ---

    def _send(
        self,
        content: JSON,
        chat: EmulatedChat | None,
        message_thread_id: int | None,
        reply_to: JSON | None,
    ) -> JSON:
        return self._world.user_sends(
            self, content, chat=chat, thread_id=message_thread_id, reply_to=reply_to
        )

    def send_text(
        self,
        text: str,
        *,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        content: JSON = {"text": text}
        entities = detect_entities(text)
        if entities:
            content["entities"] = entities
        return self._send(content, chat, message_thread_id, reply_to)

    def _with_caption(self, content: JSON, caption: str | None) -> JSON:
        if caption:
            content["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                content["caption_entities"] = entities
        return content

    def send_photo(
        self,
        caption: str | None = None,
        *,
        data: bytes | None = None,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        record = self._world.files.add_bytes("photo", data or TINY_PNG, mime_type="image/png")
        content = self._with_caption({"photo": record.photo_sizes}, caption)
        return self._send(content, chat, message_thread_id, reply_to)

    def send_document(
        self,
        file_name: str = "document.pdf",
        *,
        data: bytes | None = None,
        mime_type: str | None = None,
        caption: str | None = None,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        record = self._world.files.add_bytes(
            "document", data or _DEFAULT_DOCUMENT, file_name=file_name, mime_type=mime_type
        )
        document = record.base()
        document["file_name"] = file_name
        if record.mime_type:
            document["mime_type"] = record.mime_type
        content = self._with_caption({"document": document}, caption)
        return self._send(content, chat, message_thread_id, reply_to)

    def send_voice(
        self,
        duration: int = 3,
        *,
        data: bytes | None = None,
        caption: str | None = None,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        record = self._world.files.add_bytes(
            "voice", data or _DEFAULT_VOICE, mime_type="audio/ogg", duration=duration
        )
        voice = {**record.base(), "duration": duration, "mime_type": "audio/ogg"}
        content = self._with_caption({"voice": voice}, caption)
        return self._send(content, chat, message_thread_id, reply_to)

    def send_video(
        self,
        duration: int = 5,
        *,
        width: int = 640,
        height: int = 360,
        data: bytes | None = None,
        caption: str | None = None,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        record = self._world.files.add_bytes(
            "video", data or _DEFAULT_VIDEO, mime_type="video/mp4", duration=duration
        )
        video = {
            **record.base(),
            "width": width,
            "height": height,
            "duration": duration,
            "mime_type": "video/mp4",
        }
        content = self._with_caption({"video": video}, caption)
        return self._send(content, chat, message_thread_id, reply_to)

    def send_sticker(
        self,
        emoji: str = "😀",
        *,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        record = self._world.files.add_bytes("sticker", TINY_PNG, mime_type="image/webp")
        sticker = {
            **record.base(),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "EmulatedStickers",
        }
        return self._send({"sticker": sticker}, chat, message_thread_id, reply_to)

    def send_location(
        self,
        latitude: float,
        longitude: float,
        *,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        location = {"latitude": float(latitude), "longitude": float(longitude)}
        return self._send({"location": location}, chat, message_thread_id, reply_to)

    def send_contact(
        self,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        user_id: int | None = None,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        contact: JSON = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if user_id is not None:
            contact["user_id"] = user_id
        return self._send({"contact": contact}, chat, message_thread_id, reply_to)

    def share_own_contact(self, phone_number: str, **where: Any) -> JSON:
        """What a request_contact button sends: the user's own contact with their user_id."""
        return self.send_contact(
            phone_number, self.first_name, last_name=self.last_name, user_id=self.id, **where
        )

    def send_media_group(
        self,
        n_photos: int = 2,
        caption: str | None = None,
        *,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
    ) -> list[JSON]:
        """An album: ``n_photos`` messages sharing one media_group_id, caption on the first."""
        if not 2 <= n_photos <= 10:
            raise ScenarioError("an album holds 2 to 10 items")
        group_id = self._world.new_media_group_id()
        messages: list[JSON] = []
        for index in range(n_photos):
            record = self._world.files.add_bytes("photo", TINY_PNG, mime_type="image/png")
            content: JSON = {"media_group_id": group_id, "photo": record.photo_sizes}
            self._with_caption(content, caption if index == 0 else None)
            messages.append(self._send(content, chat, message_thread_id, None))
        return messages

    def edit_text(self, message: JSON, text: str) -> JSON:
        """Edit one of this user's text messages; the bot gets an edited_message update."""
        return self._world.user_edits(self, message, text)

    # --- buttons ---

    def press(self, message: JSON, callback_data: str, *, forge: bool = False) -> JSON:
        """Press an inline button of ``message``; ``forge`` skips the check that it exists."""
        return self._world.user_presses(self, message, callback_data, forge=forge)

    def press_reply_button(
        self,
        text: str,
        *,
        chat: EmulatedChat | None = None,
        message_thread_id: int | None = None,
    ) -> JSON:
        """Tap a button of the last reply keyboard the bot sent to this chat."""
        target = chat if chat is not None else self.chat
        buttons = self._world.reply_keyboard_for(target) if target is not None else []
        if text not in buttons:
            raise ScenarioError(
                f"{self!r} sees no reply-keyboard button {text!r}; the last reply keyboard "
                f"offers {buttons!r}"
            )
        return self.send_text(text, chat=chat, message_thread_id=message_thread_id)

    # --- relationship with the bot ---

    def block_bot(self) -> None:
        self._world.set_blocked(self, blocked=True)

    def unblock_bot(self) -> None:
        self._world.set_blocked(self, blocked=False)

    # --- reading ---

    async def next_message(self, timeout: float = 5.0) -> JSON:
        """The next bot message in the private chat not yet returned by this method."""
        world = self._world

        def arrived() -> bool:
            chat = world.chats.get(self.id)
            return chat is not None and len(chat.bot_log) > self._cursor

        def describe() -> str:
            return (
                f"{self!r} received no new bot message within {timeout}s "
                f"({self._cursor} returned before).\n{world.describe_recent_calls()}"
            )

        await world.wait_until(arrived, timeout, describe)
        chat = world.chats[self.id]
        message = chat.bot_log[self._cursor]
        self._cursor += 1
        return message.payload

    def skip_messages(self) -> int:
        """Mark every bot message so far as read by next_message; returns how many."""
        chat = self.chat
        total = len(chat.bot_log) if chat is not None else 0
        skipped, self._cursor = total - self._cursor, total
        return skipped
