"""The "/" command menu Telegram shows, per language and per role."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.utils.i18n import I18n

from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.i18n import N_

logger = logging.getLogger(__name__)


CUSTOMER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Start over and show the menu")),
    ("menu", N_("Show the main menu")),
    ("faq", N_("Frequently asked questions")),
    ("rewards", N_("Spend your points on rewards")),
    ("language", N_("Choose the language")),
    ("help", N_("What I can do")),
    ("points", N_("My points, tier and history")),
    ("card", N_("My loyalty card to show at the till")),
    ("invite", N_("Invite friends and earn points")),
    ("review", N_("Rate us and leave a review")),
    ("stop", N_("Stop receiving promotions")),
    ("subscribe", N_("Receive promotions again")),
    ("profile", N_("My phone, birthday and consents")),
    ("mydata", N_("Get everything you hold about me")),
    ("forget", N_("Erase my data")),
    ("support", N_("Talk to a person")),
)
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("customer", N_("A customer's record: /customer ID")),
    ("roles", N_("Who has which role")),
    ("grant", N_("Give a role: /grant ROLE ID")),
    ("revoke", N_("Take a role away: /revoke ROLE ID")),
    ("faq_gaps", N_("Questions the FAQ could not answer")),
    ("faq_reload", N_("Re-read the FAQ file (FAQ_FILE)")),
    ("faq_stats", N_("Views and ratings of FAQ answers")),
    ("stats", N_("Retention figures: /stats 30")),
    ("cohorts", N_("Monthly cohorts as an image")),
    ("reviews", N_("Latest reviews: /reviews [stars]")),
    ("nps", N_("Net promoter score; /nps send asks customers")),
    ("broadcast", N_("Send a message to a segment of customers")),
)

# Admins hold every role, so their menu lists these too. Cashiers who are not admins type
# them (or follow /help): a per-role menu would need re-registering on every /grant.
CASHIER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("sale", N_("Record a sale: /sale CARD AMOUNT")),
    ("redeem", N_("Confirm a customer's code: /redeem CODE")),
)
# In a customer's topic of the support chat (the chat's own scope).
AGENT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("note", N_("An internal note, never sent: /note TEXT")),
    ("close", N_("Close the ticket and ask for a rating")),
    ("history", N_("The customer's last interactions")),
    ("points", N_("Add or remove points: /points +N reason")),
    ("snippet", N_("Send a canned reply: /snippet NAME")),
    ("help", N_("What works in a customer's topic")),
)


def help_sections(
    *, is_admin: bool, is_cashier: bool
) -> list[tuple[str | None, list[tuple[str, str]]]]:
    """What /help lists in a private chat, by section (a heading msgid, or None for the
    customer's own): the same entries as that person's command menu."""
    sections: list[tuple[str | None, list[tuple[str, str]]]] = [(None, list(CUSTOMER_COMMANDS))]
    if is_admin or is_cashier:
        sections.append((N_("For cashiers:"), list(CASHIER_COMMANDS)))
    if is_admin:
        sections.append((N_("For administrators:"), list(ADMIN_COMMANDS)))
    return sections


def command_lines(
    entries: list[tuple[str, str]] | tuple[tuple[str, str], ...], gettext: Callable[[str], str]
) -> str:
    return "\n".join(f"/{name} — {gettext(description)}" for name, description in entries)


class CommandMenu:
    def __init__(
        self,
        i18n: I18n,
        default_language: str,
        admin_ids: frozenset[int],
        support_chat_id: int | None = None,
    ) -> None:
        self._i18n = i18n
        self._default = default_language
        self._admin_ids = admin_ids
        self._support_chat_id = support_chat_id

    def _entries(self, entries: tuple[tuple[str, str], ...], language: str) -> list[BotCommand]:
        return [
            BotCommand(command=name, description=self._i18n.gettext(text, locale=language))
            for name, text in entries
        ]

    def commands(self, language: str, is_admin: bool) -> list[BotCommand]:
        # The same entries, in the same order, as /help's sections (help_sections).
        entries = CUSTOMER_COMMANDS + (CASHIER_COMMANDS + ADMIN_COMMANDS if is_admin else ())
        return self._entries(entries, language)

    async def register(self, bot: Bot, reachable_admins: frozenset[int]) -> None:
        """Customer commands for every language; admins also see theirs, in their own chat.

        Telegram refuses a chat scope for a chat the bot has never had ("chat not found"), so
        only admins who have opened the bot get theirs now; the others on their first /start.
        """
        await bot.set_my_commands(self.commands(self._default, False), BotCommandScopeDefault())
        for language in SUPPORTED_LANGUAGES:
            await bot.set_my_commands(
                self.commands(language, False), BotCommandScopeDefault(), language_code=language
            )
        for admin_id in sorted(self._admin_ids & reachable_admins):
            await self.set_for_chat(bot, admin_id, None, True)
        if self._support_chat_id is not None:
            await self._set_for_agents(bot, self._support_chat_id)

    async def _set_for_agents(self, bot: Bot, chat_id: int) -> None:
        """The support chat's own menu: what works in a customer's topic. Each agent's app
        shows it in its own language (the menu is theirs alone, unlike the topic)."""
        scope = BotCommandScopeChat(chat_id=chat_id)
        try:
            await bot.set_my_commands(self._entries(AGENT_COMMANDS, self._default), scope)
            for code in SUPPORTED_LANGUAGES:
                await bot.set_my_commands(
                    self._entries(AGENT_COMMANDS, code), scope, language_code=code
                )
        except TelegramAPIError as error:
            # The bot not (yet) in the chat: the support desk's own check says so at start-up.
            logger.warning("could not set the agents' commands in chat %s: %s", chat_id, error)

    async def set_for_chat(
        self, bot: Bot, chat_id: int, language: str | None, is_admin: bool
    ) -> None:
        """Commands for one chat: an admin's own set, or after a /language switch.

        Telegram prefers a (chat, language_code) scope over a plain chat scope, so every
        language code is set too: with the chosen language's texts, or, when none was chosen,
        each code with its own language so Telegram matches the admin's app."""
        scope = BotCommandScopeChat(chat_id=chat_id)
        try:
            await bot.set_my_commands(self.commands(language or self._default, is_admin), scope)
            for code in SUPPORTED_LANGUAGES:
                await bot.set_my_commands(
                    self.commands(language or code, is_admin), scope, language_code=code
                )
        except TelegramAPIError as error:
            # Typically "chat not found": an admin who has not opened the bot yet. Their
            # commands are set again on their first /start.
            logger.warning("could not set commands for chat %s: %s", chat_id, error)
