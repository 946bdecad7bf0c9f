"""Bot API methods that put messages into chats or change them: send*, copy*, forward*, edit*,
delete*. Every refusal is the one real Telegram answers with.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import BotAPIError, bad_request
from .formatting import FormattedText, caption_text, message_text
from .markup import ReplyMarkup, parse_inline_keyboard, parse_reply_markup
from .media import media_object
from .schema import Call, UploadedFile
from .state import JSON, EmulatedChat, StoredMessage
from .world import without_reply

if TYPE_CHECKING:
    from .world import World

Handler = Callable[[Call], Any]

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_DICE_VALUES = {"🎲": 6, "🎯": 6, "🎳": 6, "🏀": 5, "⚽": 5, "🎰": 64}
_COPYABLE_KEYS = (
    "text",
    "entities",
    "photo",
    "document",
    "video",
    "audio",
    "voice",
    "animation",
    "sticker",
    "video_note",
    "location",
    "venue",
    "contact",
    "dice",
    "poll",
    "caption",
    "caption_entities",
    "has_media_spoiler",
    "show_caption_above_media",
)
_MEDIA_KINDS = frozenset({"photo", "document", "video", "audio", "voice", "animation"})
_INPUT_MEDIA_TYPES = frozenset({"photo", "video", "animation", "audio", "document"})
_PAST_TENSE = {"copy": "copied", "forward": "forwarded"}


def not_found_message(action: str) -> BotAPIError:
    return bad_request(f"message to {action} not found")


class MessagingMethods:
    """Sending, copying, forwarding, editing and deleting messages on the bot's behalf."""

    world: World

    # --- sending ---

    def _target(self, params: JSON) -> EmulatedChat:
        chat = self.world.resolve_chat(params["chat_id"])
        self.world.check_can_post(chat)
        return chat

    def _thread(self, chat: EmulatedChat, thread_id: int | None) -> int | None:
        if thread_id is None:
            return None
        if chat.is_forum:
            topic = chat.topics.get(thread_id)
            if topic is None:
                raise bad_request("message thread not found")
            if topic.is_closed and not chat.bot_has_right("can_manage_topics"):
                raise bad_request("TOPIC_CLOSED")
            return thread_id
        if chat.type == "supergroup" and chat.get(thread_id) is not None:
            return thread_id
        raise bad_request("message thread not found")

    def _reply_target(self, chat: EmulatedChat, params: JSON) -> StoredMessage | None:
        reply = params.get("reply_parameters")
        if reply is not None:
            message_id = reply.get("message_id")
            if not isinstance(message_id, int) or isinstance(message_id, bool):
                raise bad_request('invalid value for parameter "reply_parameters"')
            allow_missing = bool(reply.get("allow_sending_without_reply"))
            source = chat
            if reply.get("chat_id") not in (None, chat.id):
                source = self.world.resolve_chat(reply["chat_id"])
        elif "reply_to_message_id" in params:
            message_id = params["reply_to_message_id"]
            allow_missing = bool(params.get("allow_sending_without_reply"))
            source = chat
        else:
            return None
        target = source.get(message_id)
        if target is None:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return target if source is chat else None

    def _markup(self, params: JSON, chat: EmulatedChat) -> ReplyMarkup | None:
        value = params.get("reply_markup")
        return None if value is None else parse_reply_markup(value, chat_type=chat.type)

    def _store(
        self,
        chat: EmulatedChat,
        kind: str,
        content: JSON,
        *,
        thread_id: int | None,
        reply_to: StoredMessage | None,
        markup: ReplyMarkup | None,
        params: JSON,
    ) -> StoredMessage:
        world = self.world
        message_id = chat.allocate_message_id()
        payload: JSON = {
            "message_id": message_id,
            "from": world.bot_user,
            "chat": chat.brief,
            "date": world.now(),
        }
        if thread_id is not None:
            payload["message_thread_id"] = thread_id
            if chat.is_forum:
                payload["is_topic_message"] = True
        payload.update(content)
        if reply_to is not None:
            payload["reply_to_message"] = without_reply(reply_to.payload)
        elif thread_id is not None and chat.is_forum:
            # In a topic, a message that replies to nothing replies to the topic's start.
            topic_start = chat.get(thread_id)
            if topic_start is not None:
                payload["reply_to_message"] = without_reply(topic_start.payload)
        if markup is not None and markup.kind == "inline":
            payload["reply_markup"] = markup.data
        if params.get("protect_content"):
            payload["has_protected_content"] = True
        stored = StoredMessage(
            chat.id,
            message_id,
            payload,
            from_bot=True,
            sender_id=world.bot_id,
            kind=kind,
            thread_id=thread_id,
            reply_markup=markup.data if markup is not None else None,
        )
        chat.store(stored)
        if markup is not None:
            if markup.kind == "reply":
                chat.last_reply_keyboard = markup.data
            elif markup.kind == "remove":
                chat.last_reply_keyboard = None
        world.notify()
        return stored

    def _destination(self, params: JSON) -> tuple[EmulatedChat, StoredMessage | None, int | None]:
        """The chat, the replied-to message and the topic a send lands in."""
        chat = self._target(params)
        reply_to = self._reply_target(chat, params)
        thread_id = params.get("message_thread_id")
        if thread_id is None and reply_to is not None and chat.is_forum:
            # A reply without message_thread_id lands in the replied-to message's topic.
            thread_id = reply_to.thread_id
        return chat, reply_to, self._thread(chat, thread_id)

    def _send(self, call: Call, kind: str, build: Callable[[EmulatedChat], JSON]) -> JSON:
        params = call.params
        chat, reply_to, thread_id = self._destination(params)
        content = build(chat)
        markup = self._markup(params, chat)
        stored = self._store(
            chat,
            kind,
            content,
            thread_id=thread_id,
            reply_to=reply_to,
            markup=markup,
            params=params,
        )
        return stored.payload

    def send_message(self, call: Call) -> JSON:
        params = call.params

        def build(chat: EmulatedChat) -> JSON:
            formatted = message_text(
                params["text"], params.get("parse_mode"), params.get("entities")
            )
            return _text_content(formatted)

        return self._send(call, "text", build)

    def _caption(self, params: JSON, content: JSON) -> JSON:
        formatted = caption_text(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
        )
        if formatted is not None:
            content["caption"] = formatted.text
            if formatted.entities:
                content["caption_entities"] = formatted.entities
        if params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return content

    def _media_sender(self, kind: str) -> Handler:
        def send(call: Call) -> JSON:
            params = call.params

            def build(chat: EmulatedChat) -> JSON:
                record = self.world.files.resolve(params[kind], kind)
                content: JSON = {kind: media_object(kind, record, params)}
                if kind == "animation":
                    # Telegram sends animations with a duplicate "document" field.
                    content["document"] = media_object("document", record, params)
                if kind in _MEDIA_KINDS:
                    self._caption(params, content)
                return content

            return self._send(call, kind, build)

        return send

    def send_location(self, call: Call) -> JSON:
        params = call.params

        def build(chat: EmulatedChat) -> JSON:
            location = _location(params)
            if params.get("live_period"):
                location["live_period"] = params["live_period"]
            return {"location": location}

        return self._send(call, "location", build)

    def send_venue(self, call: Call) -> JSON:
        params = call.params

        def build(chat: EmulatedChat) -> JSON:
            location = _location(params)
            venue: JSON = {"location": location, "title": params["title"]}
            venue["address"] = params["address"]
            for key in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
                if key in params:
                    venue[key] = params[key]
            return {"venue": venue, "location": location}

        return self._send(call, "venue", build)

    def send_contact(self, call: Call) -> JSON:
        params = call.params

        def build(chat: EmulatedChat) -> JSON:
            contact: JSON = {
                "phone_number": params["phone_number"],
                "first_name": params["first_name"],
            }
            for key in ("last_name", "vcard"):
                if key in params:
                    contact[key] = params[key]
            return {"contact": contact}

        return self._send(call, "contact", build)

    def send_dice(self, call: Call) -> JSON:
        params = call.params

        def build(chat: EmulatedChat) -> JSON:
            emoji = params.get("emoji", "🎲")
            if emoji not in _DICE_VALUES:
                raise bad_request("DICE_EMOJI_INVALID")
            return {"dice": {"emoji": emoji, "value": secrets.randbelow(_DICE_VALUES[emoji]) + 1}}

        return self._send(call, "dice", build)

    def send_poll(self, call: Call) -> JSON:
        params = call.params

        def build(chat: EmulatedChat) -> JSON:
            question = params["question"]
            if not 1 <= len(question) <= 300:
                raise bad_request("POLL_QUESTION_INVALID")
            options = [
                option if isinstance(option, str) else str(option.get("text", ""))
                for option in params["options"]
            ]
            if not 2 <= len(options) <= 12 or not all(1 <= len(text) <= 100 for text in options):
                raise bad_request("POLL_OPTIONS_INVALID")
            poll: JSON = {
                "id": str(secrets.randbits(62)),
                "question": question,
                "options": [
                    {"persistent_id": str(index), "text": text, "voter_count": 0}
                    for index, text in enumerate(options)
                ],
                "total_voter_count": 0,
                "is_closed": bool(params.get("is_closed", False)),
                "is_anonymous": bool(params.get("is_anonymous", True)),
                "type": params.get("type", "regular"),
                "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
                "allows_revoting": bool(params.get("allows_revoting", False)),
                "members_only": bool(params.get("members_only", False)),
            }
            return {"poll": poll}

        return self._send(call, "poll", build)

    def send_media_group(self, call: Call) -> list[JSON]:
        params = call.params
        chat, reply_to, thread_id = self._destination(params)
        media = params["media"]
        if not 2 <= len(media) <= 10:
            raise bad_request("media group must include 2-10 items")
        kinds = {item.get("type") for item in media}
        if not kinds <= {"photo", "video"} and len(kinds) > 1:
            raise bad_request("audio and documents can't be mixed with other media types")
        contents = [
            self._input_media_content(item, call.uploads, media_group=True) for item in media
        ]
        group_id = self.world.new_media_group_id()
        messages: list[JSON] = []
        for kind, content in contents:
            content["media_group_id"] = group_id
            stored = self._store(
                chat,
                kind,
                content,
                thread_id=thread_id,
                reply_to=reply_to,
                markup=None,
                params=params,
            )
            messages.append(stored.payload)
        return messages

    def _input_media_content(
        self, item: JSON, uploads: dict[str, UploadedFile], *, media_group: bool = False
    ) -> tuple[str, JSON]:
        kind = item.get("type")
        allowed = _INPUT_MEDIA_TYPES - {"animation"} if media_group else _INPUT_MEDIA_TYPES
        if kind not in allowed:
            raise bad_request(f'can\'t parse InputMedia: unsupported media type "{kind}"')
        reference = item.get("media")
        if isinstance(reference, str) and reference.startswith("attach://"):
            upload = uploads.get(reference.removeprefix("attach://"))
            if upload is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            source: Any = upload
        elif isinstance(reference, str) and reference:
            source = reference
        else:
            raise bad_request('can\'t parse InputMedia: field "media" must be of type String')
        record = self.world.files.resolve(source, kind)
        content: JSON = {kind: media_object(kind, record, item)}
        if kind == "animation":
            content["document"] = media_object("document", record, item)
        self._caption(item, content)
        return kind, content

    def send_chat_action(self, call: Call) -> bool:
        params = call.params
        chat = self._target(params)
        self._thread(chat, params.get("message_thread_id"))
        if params["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # --- copying and forwarding ---

    def _source_message(self, params: JSON, message_id: int, action: str) -> StoredMessage:
        source_chat = self.world.resolve_chat(params["from_chat_id"])
        source = source_chat.get(message_id)
        if source is None:
            raise not_found_message(action)
        if source.kind == "service" or source.payload.get("has_protected_content"):
            raise bad_request(f"message can't be {_PAST_TENSE[action]}")
        return source

    def _copy_content(self, source: StoredMessage, params: JSON) -> JSON:
        content = {key: source.payload[key] for key in _COPYABLE_KEYS if key in source.payload}
        if source.kind in _MEDIA_KINDS:
            if params.get("remove_caption"):
                content.pop("caption", None)
                content.pop("caption_entities", None)
            elif "caption" in params:
                content.pop("caption", None)
                content.pop("caption_entities", None)
                self._caption(params, content)
        return content

    def copy_message(self, call: Call) -> JSON:
        params = call.params
        source = self._source_message(params, params["message_id"], "copy")
        payload = self._send(call, source.kind, lambda chat: self._copy_content(source, params))
        return {"message_id": payload["message_id"]}

    def copy_messages(self, call: Call) -> list[JSON]:
        return self._copy_or_forward_many(call, "copy")

    def _forward_content(self, source: StoredMessage) -> JSON:
        content = {key: source.payload[key] for key in _COPYABLE_KEYS if key in source.payload}
        content["forward_origin"] = source.payload.get("forward_origin") or {
            "type": "user",
            "sender_user": source.payload.get("from") or self.world.bot_user,
            "date": source.payload["date"],
        }
        return content

    def forward_message(self, call: Call) -> JSON:
        params = call.params
        source = self._source_message(params, params["message_id"], "forward")
        return self._send(call, source.kind, lambda chat: self._forward_content(source))

    def forward_messages(self, call: Call) -> list[JSON]:
        return self._copy_or_forward_many(call, "forward")

    def _copy_or_forward_many(self, call: Call, action: str) -> list[JSON]:
        params = call.params
        message_ids: list[int] = params["message_ids"]
        if not 1 <= len(message_ids) <= 100:
            raise bad_request(
                "too many messages" if message_ids else "message identifiers are empty"
            )
        source_chat = self.world.resolve_chat(params["from_chat_id"])
        sources = [
            message
            for message_id in sorted(set(message_ids))
            if (message := source_chat.get(message_id)) is not None
            and message.kind != "service"
            and not message.payload.get("has_protected_content")
        ]
        if not sources:
            raise not_found_message(action)
        results: list[JSON] = []
        for source in sources:
            content = (
                self._copy_content(source, params)
                if action == "copy"
                else self._forward_content(source)
            )
            payload = self._send(call, source.kind, _constant(content))
            results.append({"message_id": payload["message_id"]})
        return results

    # --- editing ---

    def _editable(self, params: JSON) -> tuple[EmulatedChat, StoredMessage] | None:
        """The stored message an edit targets; None for inline messages (not tracked)."""
        if params.get("inline_message_id"):
            if "chat_id" in params or "message_id" in params:
                raise bad_request("can't use inline_message_id together with chat_id")
            return None
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self.world.resolve_chat(params["chat_id"])
        self.world.check_can_post(chat)
        stored = chat.get(params["message_id"])
        if stored is None:
            raise not_found_message("edit")
        if not stored.from_bot or stored.kind == "service":
            raise bad_request("message can't be edited")
        return chat, stored

    def _inline_markup(self, params: JSON, chat: EmulatedChat) -> JSON | None:
        value = params.get("reply_markup")
        return None if value is None else parse_inline_keyboard(value, chat_type=chat.type)

    def _apply_edit(self, stored: StoredMessage, changes: JSON, markup: JSON | None) -> JSON:
        current = stored.payload
        candidate = {**current, **{k: v for k, v in changes.items() if v is not None}}
        for key, value in changes.items():
            if value is None:
                candidate.pop(key, None)
        if markup is None:
            candidate.pop("reply_markup", None)
        else:
            candidate["reply_markup"] = markup
        if _same_content(current, candidate):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        candidate["edit_date"] = self.world.now()
        stored.replace_payload(candidate)
        # A reply keyboard sent with the message cannot be changed by edits; inline ones can.
        if stored.reply_markup is None or "inline_keyboard" in stored.reply_markup:
            stored.reply_markup = markup
        self.world.notify()
        return candidate

    def edit_message_text(self, call: Call) -> JSON | bool:
        params = call.params
        formatted = message_text(params["text"], params.get("parse_mode"), params.get("entities"))
        target = self._editable(params)
        if target is None:
            return True
        chat, stored = target
        if stored.kind != "text":
            raise bad_request("there is no text in the message to edit")
        markup = self._inline_markup(params, chat)
        changes = _text_content(formatted)
        changes.setdefault("entities", None)
        return self._apply_edit(stored, changes, markup)

    def edit_message_caption(self, call: Call) -> JSON | bool:
        params = call.params
        formatted = caption_text(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
        )
        target = self._editable(params)
        if target is None:
            return True
        chat, stored = target
        if stored.kind not in _MEDIA_KINDS:
            raise bad_request("there is no caption in the message to edit")
        markup = self._inline_markup(params, chat)
        changes: JSON = {"caption": None, "caption_entities": None}
        if formatted is not None:
            changes["caption"] = formatted.text
            changes["caption_entities"] = formatted.entities or None
        if "show_caption_above_media" in params:
            changes["show_caption_above_media"] = params["show_caption_above_media"] or None
        return self._apply_edit(stored, changes, markup)

    def edit_message_reply_markup(self, call: Call) -> JSON | bool:
        params = call.params
        target = self._editable(params)
        if target is None:
            return True
        chat, stored = target
        return self._apply_edit(stored, {}, self._inline_markup(params, chat))

    def edit_message_media(self, call: Call) -> JSON | bool:
        params = call.params
        target = self._editable(params)
        if target is None:
            return True
        chat, stored = target
        if stored.kind not in _MEDIA_KINDS:
            raise bad_request("there is no media in the message to edit")
        kind, content = self._input_media_content(params["media"], call.uploads)
        markup = self._inline_markup(params, chat)
        changes: JSON = dict.fromkeys(_MEDIA_KINDS | {"caption", "caption_entities"})
        changes.update(content)
        result = self._apply_edit(stored, changes, markup)
        stored.kind = kind
        return result

    # --- deleting ---

    def _deletable(self, chat: EmulatedChat, stored: StoredMessage) -> bool:
        if chat.type == "private" or stored.from_bot:
            return True
        return chat.bot_has_right("can_delete_messages")

    def delete_message(self, call: Call) -> bool:
        params = call.params
        chat = self.world.resolve_chat(params["chat_id"])
        stored = chat.get(params["message_id"])
        if stored is None:
            raise not_found_message("delete")
        if not self._deletable(chat, stored):
            raise bad_request("message can't be deleted")
        chat.remove(stored.message_id)
        self.world.notify()
        return True

    def delete_messages(self, call: Call) -> bool:
        params = call.params
        message_ids: list[int] = params["message_ids"]
        if not 1 <= len(message_ids) <= 100:
            raise bad_request(
                "too many messages to delete" if message_ids else "message identifiers are empty"
            )
        chat = self.world.resolve_chat(params["chat_id"])
        for message_id in message_ids:
            stored = chat.get(message_id)
            if stored is not None and self._deletable(chat, stored):
                chat.remove(message_id)
        self.world.notify()
        return True


def _constant(content: JSON) -> Callable[[EmulatedChat], JSON]:
    return lambda chat: content


def _text_content(formatted: FormattedText) -> JSON:
    content: JSON = {"text": formatted.text}
    if formatted.entities:
        content["entities"] = formatted.entities
    return content


def _location(params: JSON) -> JSON:
    latitude, longitude = params["latitude"], params["longitude"]
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise bad_request("wrong latitude or longitude specified")
    location: JSON = {"latitude": latitude, "longitude": longitude}
    if "horizontal_accuracy" in params:
        location["horizontal_accuracy"] = params["horizontal_accuracy"]
    return location


# Fields whose change makes an edit a real modification.
_COMPARED_KEYS = (*_COPYABLE_KEYS, "reply_markup")


def _same_content(current: JSON, candidate: JSON) -> bool:
    return all(current.get(key) == candidate.get(key) for key in _COMPARED_KEYS)
