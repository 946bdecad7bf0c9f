"""aiogram routers, one per feature, in folders by who is speaking (customer, agents,
cashier, admin, common); `feature_routers()` is their one ordered list."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.filters import PRIVATE_CHAT, CommandButtonOrAnswer, IsAdmin
from bot.telegram.menu import MAIN_MENU
from bot.telegram.middlewares.prompts import LeavePromptMiddleware
from handlers.admin import broadcast as admin_broadcast
from handlers.admin import customers as admin_customers
from handlers.admin import faq as admin_faq
from handlers.admin import reviews as admin_reviews
from handlers.admin import roles as admin_roles
from handlers.admin import stats as admin_stats
from handlers.agents import tickets
from handlers.cashier import sales as cashier
from handlers.common import errors, fallback
from handlers.common import help as help_
from handlers.customer import (
    faq,
    language,
    points,
    privacy,
    profile,
    promotions,
    reviews,
    rewards,
    start,
)
from handlers.customer import support as support_customers

# Messages are split by where they come from: a customer's private chat here, the agents'
# forum supergroup in its own router (with the support work). The chat filter sits once on
# the parent instead of on every feature router.
private_chat = Router(name="private_chat")
private_chat.message.filter(PRIVATE_CHAT)
# A menu button or a command pressed while a question waits leaves the question, whichever
# router the question lives in.
private_chat.message.outer_middleware(
    LeavePromptMiddleware(entry.label for row in MAIN_MENU for entry in row)
)
# Order matters: the first router whose filters match handles the update, so the catch-all
# fallback stays last.
# Admins' routers sit under one parent whose role filter runs once per message.
admin = Router(name="admin")
admin.message.filter(IsAdmin())
admin.include_routers(
    admin_customers.router,
    admin_roles.router,
    admin_faq.router,
    admin_stats.router,
    admin_reviews.router,
    admin_broadcast.router,
)
# The features answering commands, reply-keyboard buttons and their own questions sit under
# one parent whose filter lets free text with no question pending (most updates: questions
# for the FAQ) skip them all at once: aiogram's walk through routers and handlers was a
# third of the event loop's time per update (docs/benchmarks.md). A unit test holds every
# handler under it to a command, a button of REPLY_BUTTONS, a state or a non-text message.
REPLY_BUTTONS = (*(entry.label for row in MAIN_MENU for entry in row), profile.CANCEL)
requests = Router(name="requests")
requests.message.filter(CommandButtonOrAnswer(REPLY_BUTTONS))
# Cashiers' deep links (a scanned card or code) come before /start; for anyone else they are
# an ordinary /start.
requests.include_routers(
    cashier.links,
    start.router,
    promotions.router,
    help_.router,
    language.router,
    points.router,
    rewards.router,
    reviews.router,
    profile.router,
    privacy.router,
    cashier.router,
    admin,
)
# The FAQ takes the free text no other feature claimed, so it comes just before the fallback.
private_chat.include_routers(
    requests,
    # While a customer talks to a person, what they write goes to the agents, not the FAQ.
    support_customers.router,
    faq.router,
    fallback.router,
)


# The card's buttons sit under the agents' router: a customer's message, which that router's
# topic filter turns away, then skips them too (each router walked costs every update).
tickets.router.include_router(tickets.buttons)


def feature_routers() -> list[Router]:
    # The agents' forum supergroup comes before the private chat: its Take / Close buttons
    # must not reach the private chat's catch-all. The error handler comes last: an error
    # reaches it wherever it is, and messages need not walk past it.
    return [tickets.router, private_chat, errors.router]
