"""A forgotten customer's reviews come off the reviews channel too: which posts are theirs.

Read before the erasure, which forgets the posts' ids with the texts; withdrawing them from
the channel is Telegram's work (bot/telegram/review_posts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.unit_of_work import Storage


@dataclass(frozen=True)
class PublishedPost:
    message_id: int
    with_photo: bool


async def published_posts(storage: Storage, customer_id: int) -> list[PublishedPost]:
    """Read before the erasure, which forgets the posts' ids with the texts."""
    async with storage.read() as uow:
        posts = await uow.reviews.published_posts(customer_id)
    return [PublishedPost(message_id, with_photo) for message_id, with_photo in posts]
