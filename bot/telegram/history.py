"""/history in a ticket's topic: the customer's record of interactions, a line each, as an
agent reads it (in the desk's language: callers set it for `_`)."""

from __future__ import annotations

import html as html_escape
import re
from zoneinfo import ZoneInfo

from aiogram import html
from aiogram.utils.i18n import gettext as _

from bot.i18n import N_
from bot.telegram.notices.formatting import moment_in
from bot.telegram.text import cut, fit_lines
from storage.models import Interaction

# How much of each interaction's text a line shows.
HISTORY_TEXT = 150

# The customer's messages, by the content type the record keeps (bot/telegram/summaries.py
# writes media as "[photo] caption", "[voice 3s]", "[document name.pdf] caption" …).
_INBOUND_KINDS = {
    "photo": N_("📷 Photo"),
    "video": N_("🎬 Video"),
    "animation": N_("🎞 Animation"),
    "audio": N_("🎵 Audio"),
    "document": N_("📄 Document"),
    "voice": N_("🎤 Voice message"),
    "video_note": N_("⏺ Video message"),
    "sticker": N_("🖼 Sticker"),
    "location": N_("📍 Location"),
    "venue": N_("📍 Place"),
    "contact": N_("👤 Contact"),
    "poll": N_("📊 Poll"),
    "dice": N_("🎲 Dice"),
}
# What the bot sent, by the Bot API method that sent it.
_OUTBOUND_METHODS = {
    "sendPhoto": N_("📷 Photo"),
    "sendVideo": N_("🎬 Video"),
    "sendAnimation": N_("🎞 Animation"),
    "sendAudio": N_("🎵 Audio"),
    "sendDocument": N_("📄 Document"),
    "sendVoice": N_("🎤 Voice message"),
    "sendVideoNote": N_("⏺ Video message"),
    "sendSticker": N_("🖼 Sticker"),
    "sendLocation": N_("📍 Location"),
    "sendVenue": N_("📍 Place"),
    "sendContact": N_("👤 Contact"),
    "sendMediaGroup": N_("🖼 Album"),
    "copyMessage": N_("📎 A message from the agents (copied as sent)"),
    "copyMessages": N_("📎 Messages from the agents (copied as sent)"),
    "forwardMessage": N_("📎 A forwarded message"),
}
_SUMMARY = re.compile(r"^\[(?P<kind>[a-z_]+)(?: (?P<detail>[^\]]*))?\] ?(?P<rest>.*)$", re.DOTALL)
_SECONDS = re.compile(r"^(\d+)s$")
_TAG = re.compile(r"<[^>]+>")
_LINE_BREAKS = re.compile(r"\s*\n\s*")


def _plain(bot_html: str) -> str:
    """A message the bot sent in HTML, as the customer read it."""
    return html_escape.unescape(_TAG.sub("", bot_html))


def _with_detail(label: str, detail: str | None, caption: str | None) -> str:
    """ "🎤 Voice message (4 s)", "📄 Document: invoice.pdf", "📷 Photo: the receipt"."""
    if detail:
        seconds = _SECONDS.match(detail)
        if seconds:
            label += " " + _("({seconds} s)").format(seconds=seconds.group(1))
        else:
            caption = f"{detail} {caption}".strip() if caption else detail
    return f"{label}: {caption}" if caption else label


def _inbound(item: Interaction) -> str:
    kind, text = item.kind, item.text or ""
    edited = kind.startswith("edited_")
    kind = kind.removeprefix("edited_")
    if kind == "callback":
        described = _("🔘 Pressed a button")
    elif kind == "blocked":
        described = _("⛔ Blocked the bot")
    elif kind == "unblocked":
        described = _("✅ Unblocked the bot")
    elif kind == "command":
        described = "⌨️ " + text
    elif kind in _INBOUND_KINDS:
        summary = _SUMMARY.match(text)
        detail = summary.group("detail") if summary else None
        caption = summary.group("rest") if summary else text
        described = _with_detail(_(_INBOUND_KINDS[kind]), detail, caption or None)
    elif text:
        described = text
    else:
        described = _("Something Telegram calls “{kind}”").format(kind=kind)
    return _("✏️ Edited: {text}").format(text=described) if edited else described


def _outbound(item: Interaction) -> str:
    method, text = item.kind, item.text
    if method in ("sendMessage", "editMessageText"):
        described = _plain(text or "")
    elif method == "deleteMessage":
        described = _("🗑 Deleted one of its messages")
    elif method == "editMessageReplyMarkup":
        described = _("🔘 Changed the buttons of a message")
    elif method in _OUTBOUND_METHODS:
        caption = None if text is None or text.startswith("[") else _plain(text)
        described = _with_detail(_(_OUTBOUND_METHODS[method]), None, caption)
    elif text and not text.startswith("["):
        described = _plain(text)
    else:
        described = _("Something Telegram calls “{kind}”").format(kind=method)
    if method.startswith("edit") and method != "editMessageReplyMarkup":
        described = _("✏️ Edited: {text}").format(text=described)
    return described


def history_line(item: Interaction, language: str, zone: ZoneInfo) -> str:
    when = moment_in(item.at, language, zone)
    if item.kind == "note":
        text = _LINE_BREAKS.sub(" ", item.text or "")
        return _("{time} 🔒 Internal note: {text}").format(
            time=when, text=html.quote(cut(text, HISTORY_TEXT))
        )
    inbound = item.direction == "in"
    described = _inbound(item) if inbound else _outbound(item)
    # One line per interaction: a message's own line breaks would read as further entries.
    described = _LINE_BREAKS.sub(" ", described)
    line = f"{when} {'←' if inbound else '→'} {html.quote(cut(described, HISTORY_TEXT))}"
    if item.status == "failed":
        line += " " + _("⚠️ not delivered")
    return line


def render_history(interactions: list[Interaction], language: str, zone: ZoneInfo) -> str:
    lines = [
        _(
            "🕘 Last interactions (← from the customer, → to the customer, 🔒 internal notes "
            "of the agents):"
        )
    ]
    lines.extend(history_line(item, language, zone) for item in interactions)
    return fit_lines(lines)
