"""`python -m bot customer export|forget TELEGRAM_ID`: a customer's data rights, for operators."""

from __future__ import annotations

import argparse
import json
import sys

from aiogram import Bot

from bot.config import Settings
from bot.services.access import CLI
from bot.services.privacy import AlreadyForgotten, PrivacyService
from bot.services.privacy.catalogue import DATA_SECTIONS
from bot.services.review_posts import PublishedPost, published_posts
from bot.telegram.review_posts import withdraw
from bot.telegram.session import telegram_session
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

EXIT_OK = 0
EXIT_FAILED = 1


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        privacy = PrivacyService(storage, DATA_SECTIONS)
        customer = await privacy.find(arguments.telegram_id)
        if customer is None:
            print(f"no customer with Telegram id {arguments.telegram_id}", file=sys.stderr)
            return EXIT_FAILED
        if arguments.customer_command == "export":
            document = await privacy.export(CLI, customer)
            print(json.dumps(document, ensure_ascii=False, indent=2, default=str))
            return EXIT_OK
        if not arguments.yes:
            print(
                f"This erases the personal data of customer {arguments.telegram_id} "
                "(names, username, phone, birthday, message texts, codes) for good; "
                "points and purchase amounts stay, anonymous. Run again with --yes to do it.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        posts = await published_posts(storage, customer.id)
        try:
            counts = await privacy.forget(CLI, customer)
        except AlreadyForgotten:
            print("that customer was forgotten already", file=sys.stderr)
            return EXIT_FAILED
        changed = ", ".join(f"{name}: {count}" for name, count in counts.items() if count)
        print(f"forgotten; rows changed: {changed or 'none'}")
        if posts and settings.surveys.reviews_channel_id is not None:
            if settings.telegram.token is None:
                print(
                    f"BOT_TOKEN is not set: {len(posts)} published review(s) stay on the "
                    "channel; a channel admin must remove them",
                    file=sys.stderr,
                )
            else:
                channel = settings.surveys.reviews_channel_id
                withdrawn = await _withdraw_from_channel(settings, channel, posts)
                print(f"reviews withdrawn from the channel: {withdrawn} of {len(posts)}")
        return EXIT_OK
    finally:
        await storage.close()


async def _withdraw_from_channel(
    settings: Settings, channel: int, posts: list[PublishedPost]
) -> int:
    session = telegram_session(settings)
    bot = Bot(settings.require_token(), session=session)
    try:
        return await withdraw(bot, channel, posts)
    finally:
        await bot.session.close()
