"""The Bot API method table and the behaviour of methods beyond messaging (see messaging.py):
updates and webhooks, callback answers, commands and profile, chats, forum topics, pins.

Handlers receive parameters already validated and coerced against methods.json. They raise
BotAPIError for every refusal real Telegram would answer with.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import bad_request, conflict
from .formatting import utf16_len
from .media import MAX_DOWNLOAD_BYTES
from .messaging import Handler, MessagingMethods, not_found_message
from .schema import Call
from .state import ADMIN_RIGHTS, JSON, EmulatedChat
from .updates import WebhookConfig
from .world import DEFAULT_TOPIC_COLOR, TOPIC_COLORS, without_reply

if TYPE_CHECKING:
    from .updates import WebhookDelivery
    from .world import World

CALLBACK_ANSWER_MAX_TEXT = 200
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
# The emoji a bot may react with (ReactionTypeEmoji in the Bot API documentation).
_REACTION_EMOJI = frozenset(
    {
        *("👍", "👎", "❤", "🔥", "🥰", "👏", "😁", "🤔", "🤯", "😱", "🤬", "😢", "🎉", "🤩", "🤮"),
        *("💩", "🙏", "👌", "🕊", "🤡", "🥱", "🥴", "😍", "🐳", "❤‍🔥", "🌚", "🌭", "💯", "🤣"),
        *("⚡", "🍌", "🏆", "💔", "🤨", "😐", "🍓", "🍾", "💋", "🖕", "😈", "😴", "😭", "🤓"),
        *("👻", "👨‍💻", "👀", "🎃", "🙈", "😇", "😨", "🤝", "✍", "🤗", "🫡", "🎅", "🎄", "☃"),
        *("💅", "🤪", "🗿", "🆒", "💘", "🙉", "🦄", "😘", "💊", "🙊", "😎", "👾", "🤷‍♂", "🤷"),
        *("🤷‍♀", "😡"),
    }
)
_COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


def command_scope_key(scope: JSON | None) -> str:
    """A stable key for a BotCommandScope; chat ids are compared as given after coercion."""
    if not scope or scope.get("type") == "default":
        return '{"type":"default"}'
    parts = [f'"type":"{scope.get("type")}"']
    if "chat_id" in scope:
        parts.append(f'"chat_id":{_scope_chat_repr(scope["chat_id"])}')
    if "user_id" in scope:
        parts.append(f'"user_id":{scope["user_id"]}')
    return "{" + ",".join(parts) + "}"


def _scope_chat_repr(chat_id: Any) -> str:
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        return chat_id
    return str(chat_id) if isinstance(chat_id, int) else f'"{chat_id}"'


class BotMethods(MessagingMethods):
    """The behaviour of every Bot API method the emulator implements beyond validation."""

    def __init__(
        self,
        world: World,
        webhook: WebhookDelivery,
        *,
        strict_webhook_urls: bool = False,
    ) -> None:
        self.world = world
        self.webhook = webhook
        self.strict_webhook_urls = strict_webhook_urls
        self.handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "logOut": self.always_true,
            "close": self.always_true,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "sendPhoto": self._media_sender("photo"),
            "sendDocument": self._media_sender("document"),
            "sendVideo": self._media_sender("video"),
            "sendAudio": self._media_sender("audio"),
            "sendVoice": self._media_sender("voice"),
            "sendAnimation": self._media_sender("animation"),
            "sendSticker": self._media_sender("sticker"),
            "sendVideoNote": self._media_sender("video_note"),
            "sendLocation": self.send_location,
            "sendVenue": self.send_venue,
            "sendContact": self.send_contact,
            "sendDice": self.send_dice,
            "sendPoll": self.send_poll,
            "sendMediaGroup": self.send_media_group,
            "sendChatAction": self.send_chat_action,
            "copyMessage": self.copy_message,
            "copyMessages": self.copy_messages,
            "forwardMessage": self.forward_message,
            "forwardMessages": self.forward_messages,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "editMessageMedia": self.edit_message_media,
            "deleteMessage": self.delete_message,
            "deleteMessages": self.delete_messages,
            "answerCallbackQuery": self.answer_callback_query,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setMyDescription": self.set_my_description,
            "getMyDescription": self.get_my_description,
            "setMyShortDescription": self.set_my_short_description,
            "getMyShortDescription": self.get_my_short_description,
            "setMyName": self.set_my_name,
            "getMyName": self.get_my_name,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "setMyDefaultAdministratorRights": self.set_default_admin_rights,
            "getMyDefaultAdministratorRights": self.get_default_admin_rights,
            "getChat": self.get_chat,
            "getChatMember": self.get_chat_member,
            "getChatAdministrators": self.get_chat_administrators,
            "getChatMemberCount": self.get_chat_member_count,
            "getUserProfilePhotos": self.get_user_profile_photos,
            "getFile": self.get_file,
            "leaveChat": self.leave_chat,
            "banChatMember": self.ban_chat_member,
            "unbanChatMember": self.unban_chat_member,
            "exportChatInviteLink": self.export_chat_invite_link,
            "createChatInviteLink": self.create_chat_invite_link,
            "createForumTopic": self.create_forum_topic,
            "editForumTopic": self.edit_forum_topic,
            "closeForumTopic": self.close_forum_topic,
            "reopenForumTopic": self.reopen_forum_topic,
            "deleteForumTopic": self.delete_forum_topic,
            "unpinAllForumTopicMessages": self.unpin_all_forum_topic_messages,
            "getForumTopicIconStickers": self.empty_list,
            "pinChatMessage": self.pin_chat_message,
            "unpinChatMessage": self.unpin_chat_message,
            "unpinAllChatMessages": self.unpin_all_chat_messages,
            "setMessageReaction": self.set_message_reaction,
        }

    # --- trivial ---

    def always_true(self, call: Call) -> bool:
        return True

    def empty_list(self, call: Call) -> list[Any]:
        return []

    def get_me(self, call: Call) -> JSON:
        return {
            **self.world.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.world.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # --- updates ---

    async def get_updates(self, call: Call) -> list[JSON]:
        if self.webhook.active:
            raise conflict(
                "can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first"
            )
        params = call.params
        queue = self.world.updates
        poll = queue.begin_poll()
        try:
            if "allowed_updates" in params:
                queue.set_allowed_updates(params["allowed_updates"])
            offset = params.get("offset")
            if isinstance(offset, int):
                if offset < 0:
                    queue.keep_last(-offset)
                elif offset > 0:
                    queue.confirm_below(offset)
            limit = min(max(int(params.get("limit", 100)), 1), 100)
            batch = queue.batch(limit)
            timeout = max(int(params.get("timeout", 0)), 0)
            if not batch and timeout > 0:
                # asyncio.timeout keeps a cancellation a cancellation (see World.wait_until).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await poll.event.wait()
                if poll.terminated:
                    raise conflict(
                        "terminated by other getUpdates request; "
                        "make sure that only one bot instance is running"
                    )
                if self.webhook.active:
                    raise conflict("webhook is active")
                batch = queue.batch(limit)
            return batch
        finally:
            queue.end_poll(poll)

    def _check_webhook_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if self.strict_webhook_urls:
            if parts.scheme != "https":
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in (443, 80, 88, 8443):
                raise bad_request(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                )

    async def set_webhook(self, call: Call) -> bool:
        params = call.params
        url = params["url"]
        self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = int(params.get("max_connections", 40))
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        queue = self.world.updates
        if "allowed_updates" in params:
            queue.set_allowed_updates(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            queue.clear()
        await self.webhook.configure(
            WebhookConfig(
                url=url,
                secret_token=secret,
                max_connections=max_connections,
                ip_address=params.get("ip_address"),
            )
        )
        queue.wake_poll()
        return True

    async def delete_webhook(self, call: Call) -> bool:
        await self.webhook.configure(None)
        if call.params.get("drop_pending_updates"):
            self.world.updates.clear()
        return True

    def get_webhook_info(self, call: Call) -> JSON:
        queue = self.world.updates
        config = self.webhook.config
        info: JSON = {
            "url": config.url if config else "",
            "has_custom_certificate": False,
            "pending_update_count": len(queue),
        }
        if config is not None:
            info["max_connections"] = config.max_connections
            if config.ip_address:
                info["ip_address"] = config.ip_address
            if config.last_error_date is not None:
                info["last_error_date"] = config.last_error_date
                info["last_error_message"] = config.last_error_message
            if queue.allowed_updates:
                info["allowed_updates"] = queue.allowed_updates
        return info

    # --- callback queries ---

    def answer_callback_query(self, call: Call) -> bool:
        params = call.params
        record = self.world.callback_queries.get(params["callback_query_id"])
        expired = (
            record is None
            or record.answer is not None
            or time.monotonic() - record.issued_at > self.world.callback_query_timeout
        )
        if expired:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        assert record is not None
        text = params.get("text")
        if text is not None and utf16_len(text) > CALLBACK_ANSWER_MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answer = dict(params)
        self.world.notify()
        return True

    # --- commands and profile ---

    def _command_scope(self, params: JSON) -> str:
        scope = params.get("scope")
        if scope is None:
            return command_scope_key(None)
        kind = scope.get("type")
        if kind not in _COMMAND_SCOPES:
            raise bad_request("unsupported bot command scope type")
        if kind in ("chat", "chat_administrators", "chat_member"):
            if "chat_id" not in scope:
                raise bad_request('invalid value for parameter "scope"')
            chat = self.world.resolve_chat(_int_or_str(scope["chat_id"]))
            scope = {**scope, "chat_id": chat.id}
            if kind == "chat_member":
                user_id = scope.get("user_id")
                if not isinstance(user_id, int) or (
                    user_id not in chat.members and user_id != chat.id
                ):
                    raise bad_request("user not found")
        return command_scope_key(scope)

    def _language(self, params: JSON) -> str:
        code = params.get("language_code", "")
        if code and not _LANGUAGE_CODE.fullmatch(code):
            raise bad_request("invalid language code specified")
        return str(code)

    def set_my_commands(self, call: Call) -> bool:
        params = call.params
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JSON] = []
        for command in commands:
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (self._command_scope(params), self._language(params))
        if cleaned:
            self.world.commands[key] = cleaned
        else:
            self.world.commands.pop(key, None)
        return True

    def get_my_commands(self, call: Call) -> list[JSON]:
        key = (self._command_scope(call.params), self._language(call.params))
        return list(self.world.commands.get(key, []))

    def delete_my_commands(self, call: Call) -> bool:
        key = (self._command_scope(call.params), self._language(call.params))
        self.world.commands.pop(key, None)
        return True

    def _set_text(
        self, store: dict[str, str], params: JSON, key: str, limit: int, error: str
    ) -> bool:
        language = self._language(params)
        value = params.get(key, "")
        if len(value) > limit:
            raise bad_request(error)
        if value:
            store[language] = value
        else:
            store.pop(language, None)
        return True

    def set_my_description(self, call: Call) -> bool:
        return self._set_text(
            self.world.profile.descriptions,
            call.params,
            "description",
            512,
            "BOT_DESCRIPTION_INVALID",
        )

    def get_my_description(self, call: Call) -> JSON:
        return {"description": self.world.profile.descriptions.get(self._language(call.params), "")}

    def set_my_short_description(self, call: Call) -> bool:
        return self._set_text(
            self.world.profile.short_descriptions,
            call.params,
            "short_description",
            120,
            "BOT_SHORT_DESCRIPTION_INVALID",
        )

    def get_my_short_description(self, call: Call) -> JSON:
        stored = self.world.profile.short_descriptions.get(self._language(call.params), "")
        return {"short_description": stored}

    def set_my_name(self, call: Call) -> bool:
        return self._set_text(self.world.profile.names, call.params, "name", 64, "BOT_NAME_INVALID")

    def get_my_name(self, call: Call) -> JSON:
        language = self._language(call.params)
        default = self.world.profile.names.get("", self.world.bot_user["first_name"])
        return {"name": self.world.profile.names.get(language, default)}

    def set_chat_menu_button(self, call: Call) -> bool:
        params = call.params
        button = params.get("menu_button", {"type": "default"})
        kind = button.get("type")
        if kind not in ("commands", "web_app", "default"):
            raise bad_request("unsupported menu button type")
        if kind == "web_app":
            web_app = button.get("web_app")
            url = web_app.get("url") if isinstance(web_app, dict) else None
            if not button.get("text") or not isinstance(url, str) or not url.startswith("https://"):
                raise bad_request("BUTTON_URL_INVALID")
        if "chat_id" in params:
            chat = self.world.resolve_chat(params["chat_id"])
            if chat.type != "private":
                raise bad_request("the menu button can be set only in private chats")
            chat.menu_button = button
        else:
            self.world.profile.default_menu_button = button
        return True

    def get_chat_menu_button(self, call: Call) -> JSON:
        params = call.params
        default = self.world.profile.default_menu_button or {"type": "commands"}
        if "chat_id" in params:
            chat = self.world.resolve_chat(params["chat_id"])
            return chat.menu_button or default
        return default

    def set_default_admin_rights(self, call: Call) -> bool:
        params = call.params
        rights = params.get("rights") or {}
        self.world.profile.default_admin_rights[bool(params.get("for_channels"))] = rights
        return True

    def get_default_admin_rights(self, call: Call) -> JSON:
        stored = self.world.profile.default_admin_rights.get(bool(call.params.get("for_channels")))
        rights: JSON = {"is_anonymous": False}
        rights.update({right: False for right in ADMIN_RIGHTS if right not in _CHANNEL_RIGHTS})
        if stored:
            rights.update(stored)
        return rights

    # --- chats and members ---

    def get_chat(self, call: Call) -> JSON:
        chat = self.world.resolve_chat(call.params["chat_id"])
        info: JSON = {
            **chat.brief,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": chat.type == "private",
                "limited_gifts": chat.type == "private",
                "unique_gifts": chat.type == "private",
                "premium_subscription": chat.type == "private",
                "gifts_from_channels": chat.type == "private",
            },
        }
        if chat.is_group:
            info["permissions"] = {
                "can_send_messages": True,
                "can_send_audios": True,
                "can_send_documents": True,
                "can_send_photos": True,
                "can_send_videos": True,
                "can_send_video_notes": True,
                "can_send_voice_notes": True,
                "can_send_polls": True,
                "can_send_other_messages": True,
                "can_add_web_page_previews": True,
                "can_change_info": False,
                "can_invite_users": True,
                "can_pin_messages": False,
                "can_manage_topics": False,
            }
        if chat.pinned_message_ids:
            pinned = chat.get(chat.pinned_message_ids[-1])
            if pinned is not None:
                info["pinned_message"] = without_reply(pinned.payload)
        return info

    def _member(self, chat: EmulatedChat, user_id: int) -> JSON:
        world = self.world
        if user_id == world.bot_id:
            if chat.type == "private":
                return {"status": "member", "user": world.bot_user}
            return chat.bot_member(world.bot_user)
        user = world.users.get(user_id)
        if user is None or (chat.type == "private" and user_id != chat.id):
            raise bad_request("user not found")
        status = "member" if chat.type == "private" else chat.members.get(user_id, "left")
        member: JSON = {"status": status, "user": user.as_user()}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(can_be_edited=False, is_anonymous=False)
            member.update({right: True for right in ADMIN_RIGHTS if right not in _CHANNEL_RIGHTS})
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def get_chat_member(self, call: Call) -> JSON:
        chat = self.world.resolve_chat(call.params["chat_id"])
        return self._member(chat, call.params["user_id"])

    def get_chat_administrators(self, call: Call) -> list[JSON]:
        chat = self.world.resolve_chat(call.params["chat_id"])
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = [
            self._member(chat, user_id)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator")
        ]
        if chat.bot_status in ("creator", "administrator"):
            admins.append(chat.bot_member(self.world.bot_user))
        return admins

    def get_chat_member_count(self, call: Call) -> int:
        chat = self.world.resolve_chat(call.params["chat_id"])
        if chat.type == "private":
            return 2
        present = sum(1 for status in chat.members.values() if status not in ("left", "kicked"))
        return present + (1 if chat.bot_status in ("creator", "administrator", "member") else 0)

    def get_user_profile_photos(self, call: Call) -> JSON:
        if call.params["user_id"] not in self.world.users:
            raise bad_request("user not found")
        return {"total_count": 0, "photos": []}

    def get_file(self, call: Call) -> JSON:
        record = self.world.files.get(call.params["file_id"])
        if record is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if record.file_size is not None and record.file_size > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return record.as_file()

    def leave_chat(self, call: Call) -> bool:
        chat = self.world.resolve_chat(call.params["chat_id"])
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        chat.bot_status = "left"
        return True

    def _restrictable(self, call: Call) -> tuple[EmulatedChat, int]:
        chat = self.world.resolve_chat(call.params["chat_id"])
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        if not chat.bot_has_right("can_restrict_members"):
            raise bad_request("not enough rights to restrict/unrestrict chat member")
        return chat, call.params["user_id"]

    def ban_chat_member(self, call: Call) -> bool:
        chat, user_id = self._restrictable(call)
        chat.members[user_id] = "kicked"
        return True

    def unban_chat_member(self, call: Call) -> bool:
        chat, user_id = self._restrictable(call)
        if chat.members.get(user_id) == "kicked" or not call.params.get("only_if_banned"):
            chat.members[user_id] = "left"
        return True

    def export_chat_invite_link(self, call: Call) -> str:
        chat = self.world.resolve_chat(call.params["chat_id"])
        if not chat.bot_has_right("can_invite_users") or chat.type == "private":
            raise bad_request("not enough rights to manage chat invite link")
        return f"https://t.me/+{secrets.token_urlsafe(12)}"

    def create_chat_invite_link(self, call: Call) -> JSON:
        link: JSON = {
            "invite_link": self.export_chat_invite_link(call),
            "creator": self.world.bot_user,
            "creates_join_request": bool(call.params.get("creates_join_request", False)),
            "is_primary": False,
            "is_revoked": False,
        }
        for key in ("name", "expire_date", "member_limit"):
            if key in call.params:
                link[key] = call.params[key]
        return link

    # --- forum topics ---

    def _forum(self, params: JSON) -> EmulatedChat:
        chat = self.world.resolve_chat(params["chat_id"])
        if chat.type != "supergroup" or not chat.is_forum:
            raise bad_request("the chat is not a forum")
        self.world.check_can_post(chat)
        return chat

    def _service_message(self, chat: EmulatedChat, thread_id: int | None, content: JSON) -> None:
        self._store(
            chat,
            "service",
            content,
            thread_id=thread_id,
            reply_to=None,
            markup=None,
            params={},
        )

    def create_forum_topic(self, call: Call) -> JSON:
        params = call.params
        chat = self._forum(params)
        if not chat.bot_has_right("can_manage_topics"):
            raise bad_request("not enough rights to create a topic")
        name = params["name"]
        if not 1 <= utf16_len(name) <= 128:  # Telegram counts UTF-16 code units
            raise bad_request("TOPIC_NAME_INVALID")
        icon_color = params.get("icon_color", DEFAULT_TOPIC_COLOR)
        if icon_color not in TOPIC_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        topic, _ = self.world.create_topic(
            chat,
            name,
            creator=self.world.bot_user,
            icon_color=icon_color,
            icon_custom_emoji_id=params.get("icon_custom_emoji_id"),
        )
        return topic.as_forum_topic()

    def _manageable_topic(self, params: JSON) -> tuple[EmulatedChat, int]:
        chat = self._forum(params)
        topic = self.world.forum_topic_of(chat, params["message_thread_id"])
        if topic.creator_id != self.world.bot_id and not chat.bot_has_right("can_manage_topics"):
            raise bad_request("not enough rights to manage the topic")
        return chat, topic.message_thread_id

    def edit_forum_topic(self, call: Call) -> bool:
        params = call.params
        chat, thread_id = self._manageable_topic(params)
        topic = chat.topics[thread_id]
        edited: JSON = {}
        name = params.get("name")
        if name is not None:
            if not 1 <= utf16_len(name) <= 128:  # Telegram counts UTF-16 code units
                raise bad_request("TOPIC_NAME_INVALID")
            if name != topic.name:
                edited["name"] = name
        emoji = params.get("icon_custom_emoji_id")
        if emoji is not None and emoji != (topic.icon_custom_emoji_id or ""):
            edited["icon_custom_emoji_id"] = emoji
        if not edited:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name = edited.get("name", topic.name)
        if "icon_custom_emoji_id" in edited:
            topic.icon_custom_emoji_id = edited["icon_custom_emoji_id"] or None
        self._service_message(chat, thread_id, {"forum_topic_edited": edited})
        return True

    def _set_topic_closed(self, call: Call, closed: bool) -> bool:
        chat, thread_id = self._manageable_topic(call.params)
        topic = chat.topics[thread_id]
        if topic.is_closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.is_closed = closed
        key = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._service_message(chat, thread_id, {key: {}})
        return True

    def close_forum_topic(self, call: Call) -> bool:
        return self._set_topic_closed(call, closed=True)

    def reopen_forum_topic(self, call: Call) -> bool:
        return self._set_topic_closed(call, closed=False)

    def delete_forum_topic(self, call: Call) -> bool:
        params = call.params
        chat = self._forum(params)
        self.world.forum_topic_of(chat, params["message_thread_id"])
        if not chat.bot_has_right("can_delete_messages"):
            raise bad_request("not enough rights to delete the topic")
        self.world.delete_topic(chat, params["message_thread_id"])
        return True

    def unpin_all_forum_topic_messages(self, call: Call) -> bool:
        params = call.params
        chat = self._forum(params)
        thread_id = self.world.forum_topic_of(chat, params["message_thread_id"]).message_thread_id
        if not chat.bot_has_right("can_pin_messages"):
            raise bad_request("not enough rights to manage pinned messages in the chat")
        chat.pinned_message_ids = [
            message_id
            for message_id in chat.pinned_message_ids
            if (message := chat.get(message_id)) is not None and message.thread_id != thread_id
        ]
        return True

    # --- pins and reactions ---

    def _pinnable(self, params: JSON) -> EmulatedChat:
        chat = self.world.resolve_chat(params["chat_id"])
        self.world.check_can_post(chat)
        if chat.is_group and not chat.bot_has_right("can_pin_messages"):
            raise bad_request("not enough rights to manage pinned messages in the chat")
        return chat

    def pin_chat_message(self, call: Call) -> bool:
        params = call.params
        chat = self._pinnable(params)
        message_id = params["message_id"]
        if chat.get(message_id) is None:
            raise not_found_message("pin")
        if message_id in chat.pinned_message_ids:
            chat.pinned_message_ids.remove(message_id)
        chat.pinned_message_ids.append(message_id)
        self.world.notify()
        return True

    def unpin_chat_message(self, call: Call) -> bool:
        params = call.params
        chat = self._pinnable(params)
        message_id = params.get("message_id")
        if message_id is None:
            if chat.pinned_message_ids:
                chat.pinned_message_ids.pop()
        elif message_id in chat.pinned_message_ids:
            chat.pinned_message_ids.remove(message_id)
        elif chat.get(message_id) is None:
            raise not_found_message("unpin")
        self.world.notify()
        return True

    def unpin_all_chat_messages(self, call: Call) -> bool:
        chat = self._pinnable(call.params)
        chat.pinned_message_ids.clear()
        return True

    def set_message_reaction(self, call: Call) -> bool:
        params = call.params
        chat = self.world.resolve_chat(params["chat_id"])
        self.world.check_can_post(chat)
        stored = chat.get(params["message_id"])
        if stored is None:
            raise bad_request("message to react not found")
        reactions = params.get("reaction", [])
        if len(reactions) > 1:
            raise bad_request("REACTIONS_TOO_MANY")
        for reaction in reactions:
            kind = reaction.get("type")
            if kind == "emoji" and reaction.get("emoji") not in _REACTION_EMOJI:
                raise bad_request("REACTION_INVALID")
            if kind not in ("emoji", "custom_emoji", "paid"):
                raise bad_request("REACTION_INVALID")
        stored.reactions = list(reactions)
        self.world.notify()
        return True


_CHANNEL_RIGHTS = frozenset({"can_post_messages", "can_edit_messages"})


def _int_or_str(value: Any) -> int | str:
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if re.fullmatch(r"-?\d+", text) else text
