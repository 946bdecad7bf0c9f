"""A forgotten customer's reviews come off the reviews channel too.

Erasure (/forget, `customer forget`) blanks the review in the database; the copy an admin
published to REVIEWS_CHANNEL_ID is withdrawn here. Telegram lets a bot delete a channel
post only for 48 hours; an older post is blanked instead (its text, or a photo's caption,
becomes "🗑"), and a photo that cannot be deleted is logged for a channel admin to remove.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.services.review_posts import PublishedPost

logger = logging.getLogger(__name__)

WITHDRAWN = "🗑"


async def withdraw(bot: Bot, channel: int, posts: Sequence[PublishedPost]) -> int:
    """Delete each post, or blank it where it is too old to delete; returns how many are
    gone or blank. Never raises: the erasure in the database has happened either way."""
    withdrawn = 0
    for post in posts:
        try:
            await bot.delete_message(channel, post.message_id)
        except TelegramAPIError as refused:
            try:
                if post.with_photo:
                    await bot.edit_message_caption(
                        chat_id=channel, message_id=post.message_id, caption=WITHDRAWN
                    )
                    logger.warning(
                        "review post %s in %s could not be deleted (%s): its caption is "
                        "blank, the photo must be removed by a channel admin",
                        post.message_id,
                        channel,
                        refused.message,
                    )
                else:
                    await bot.edit_message_text(
                        WITHDRAWN, chat_id=channel, message_id=post.message_id
                    )
            except TelegramAPIError as error:
                logger.warning(
                    "review post %s in %s could not be withdrawn: %s (%s)",
                    post.message_id,
                    channel,
                    refused.message,
                    error.message,
                )
                continue
        withdrawn += 1
    return withdrawn
