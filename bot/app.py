"""Assembling the bot: storage, services, the Bot session, the Dispatcher and its routers."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from aiogram.utils.i18n import I18n

from bot.api.schemas import ApiLimits
from bot.api.server import MAX_BODY_BYTES, ApiContext, HttpServer, create_api
from bot.broadcasts.flood import FloodGate
from bot.broadcasts.worker import BroadcastWorker
from bot.config import Settings, SettingsError
from bot.domain.quiet_hours import QuietHours
from bot.domain.rates import Rate
from bot.i18n import create_i18n
from bot.jobs.catalogue import register_jobs
from bot.jobs.scheduler import Scheduler
from bot.middlewares.intake import InFlight, IntakeMiddleware
from bot.middlewares.locale import CustomerLocaleMiddleware
from bot.middlewares.roles import RolesMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.notices import Renderer
from bot.notices.campaigns import RENDERERS as CAMPAIGN_TEXTS
from bot.notices.campaigns import check_campaign_texts
from bot.notices.expiry import RENDERERS as EXPIRY_NOTICES
from bot.notices.loyalty import RENDERERS as LOYALTY_NOTICES
from bot.notices.reviews import RENDERERS as REVIEW_NOTICES
from bot.notices.rewards import RENDERERS as REWARD_NOTICES
from bot.notices.worker import NoticeWorker
from bot.ops.fsm import create_fsm
from bot.ops.health import Health
from bot.ops.metrics import (
    ErrorCounter,
    Metrics,
    UpdateMetricsMiddleware,
    http_middleware,
    metrics_route,
)
from bot.ops.webhook import MAX_UPDATE_BYTES, WebhookInbox, register_webhook
from bot.services.access import AuditLog, RoleService
from bot.services.analytics import AnalyticsService
from bot.services.api_tokens import ApiTokenService
from bot.services.broadcasts.service import BroadcastService
from bot.services.customer_cache import CustomerCache
from bot.services.customers import CustomerService
from bot.services.faq.matcher import Embedder, default_embedder
from bot.services.faq.model_cache import cache_directory
from bot.services.faq.service import FaqService
from bot.services.intake import IntakeService
from bot.services.interactions import InteractionLog
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.purchases import PurchaseService, to_minor
from bot.services.loyalty.redemptions import RedemptionService
from bot.services.loyalty.rules import LoyaltyRules, load_rules
from bot.services.loyalty.service import LoyaltyService
from bot.services.privacy import PrivacyService
from bot.services.privacy.catalogue import DATA_SECTIONS
from bot.services.profile import ProfileService
from bot.services.reviews import NpsService, ReviewService
from bot.services.snippets import Snippets
from bot.services.support import SupportService
from bot.telegram.commands import CommandMenu
from bot.telegram.outbound import OutboundLogMiddleware
from bot.telegram.retry import RetryMiddleware
from bot.telegram.session import telegram_session
from bot.telegram.support_desk import SupportDesk
from handlers import feature_routers
from storage.migrations import apply_migrations
from storage.unit_of_work import Storage, open_storage

logger = logging.getLogger(__name__)

# Update types the bot needs even where no handler is registered for them: my_chat_member
# tells us a customer blocked the bot, which the intake records.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


@dataclass
class Application:
    settings: Settings
    storage: Storage
    bot: Bot
    dispatcher: Dispatcher
    in_flight: InFlight
    notices: NoticeWorker
    http: HttpServer | None
    faq: FaqService
    scheduler: Scheduler
    desk: SupportDesk
    broadcasts: BroadcastWorker | None = None
    metrics: Metrics | None = None
    # The inbox the webhook route stores updates in (WEBHOOK_URL); in polling mode it only
    # drains what an earlier webhook deployment left.
    inbox: WebhookInbox | None = None


def read_operator_files(settings: Settings) -> tuple[LoyaltyRules, Snippets, I18n]:
    """Read first: a bad file (rules, snippets, a campaign's translation) stops start-up,
    naming what is wrong, before anything opens, so nothing holds the process up after."""
    rules = load_rules(settings.loyalty.rules_file)
    i18n = create_i18n(settings.telegram.default_language)
    check_campaign_texts(i18n, rules)
    return rules, Snippets.load(settings.support.snippets), i18n


async def create_application(settings: Settings) -> Application:
    token = settings.require_token()
    rules, snippets, i18n = read_operator_files(settings)
    await asyncio.to_thread(apply_migrations, settings.database.url)
    storage = await open_storage(settings.database.url)
    admin_ids = frozenset(settings.telegram.admin_ids)

    customer_cache = CustomerCache()
    log = InteractionLog(storage, customer_cache)
    intake = IntakeService(storage, customer_cache)
    command_menu = CommandMenu(
        i18n, settings.telegram.default_language, admin_ids, settings.support.chat_id
    )

    session = telegram_session(settings)
    # The first registered wraps the rest: a call retried after a 429 is logged once.
    session.middleware(OutboundLogMiddleware(log))
    flood_gate = FloodGate()
    session.middleware(RetryMiddleware(flood_gate=flood_gate))
    bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    customers = CustomerService(storage, customer_cache)
    roles = RoleService(storage, admin_ids)
    ledger = PointsLedger(rules)
    loyalty = LoyaltyService(storage, rules, ledger)
    purchases = PurchaseService(
        storage, rules, ledger, referral_min_minor=to_minor(settings.loyalty.referral_min_purchase)
    )
    redemptions = RedemptionService(storage, rules, ledger, purchases, roles)
    renderers: dict[str, Renderer] = {
        **LOYALTY_NOTICES,
        **EXPIRY_NOTICES,
        **REWARD_NOTICES,
        **REVIEW_NOTICES,
    }
    notices = NoticeWorker(storage, bot, i18n, rules, renderers, settings.telegram.default_language)
    # The model comes in from the background once the bot answers (see _on_startup).
    faq = FaqService(storage, None)
    scheduler = Scheduler(
        storage, settings.zone, tick_seconds=settings.jobs.tick_seconds, on_change=notices.wake
    )
    delay = settings.surveys.review_request_delay_minutes
    reviews = ReviewService(
        storage,
        rules,
        ledger,
        timedelta(minutes=delay) if delay else None,
        settings.surveys.quiet,
        settings.zone,
    )
    register_jobs(scheduler, storage, settings, rules, ledger)
    _schedule_periodic_work(scheduler, settings, faq, redemptions, reviews)
    broadcast_service, broadcasts = _broadcasts(settings, storage, i18n, flood_gate, bot, rules)
    support, desk = _support(settings, storage, bot, i18n, loyalty, scheduler)
    fsm_storage, events_isolation = create_fsm(storage, settings.telegram.redis_url)
    dispatcher = Dispatcher(
        storage=fsm_storage,
        events_isolation=events_isolation,
        settings=settings,
        log=log,
        intake=intake,
        customers=customers,
        command_menu=command_menu,
        role_service=roles,
        audit_log=AuditLog(storage),
        loyalty=loyalty,
        purchases=purchases,
        notices=notices,
        faq=faq,
        redemptions=redemptions,
        analytics=AnalyticsService(storage, rules, settings.support.first_response_minutes),
        reviews=reviews,
        nps=NpsService(storage, broadcast_service),
        broadcasts=broadcast_service,
        broadcast_worker=broadcasts,
        privacy=PrivacyService(storage, DATA_SECTIONS, customer_cache),
        profile=ProfileService(storage, customer_cache),
        support=support,
        desk=desk,
        snippets=snippets,
    )
    in_flight = InFlight()
    metrics = Metrics()
    logging.getLogger().addHandler(ErrorCounter(metrics))
    dispatcher.update.outer_middleware(UpdateMetricsMiddleware(metrics))
    # Outer middlewares run in the order registered: claim and record the update first,
    # then pick the language and the sender's role that everything after relies on.
    dispatcher.update.outer_middleware(IntakeMiddleware(intake, in_flight))
    CustomerLocaleMiddleware(i18n, settings.telegram.default_language).setup(dispatcher)
    dispatcher.update.outer_middleware(RolesMiddleware(roles))
    throttling = ThrottlingMiddleware(Rate.parse(settings.telegram.throttle_rate))
    dispatcher.message.outer_middleware(throttling)
    dispatcher.callback_query.outer_middleware(throttling)
    dispatcher.callback_query.middleware(CallbackAnswerMiddleware())
    dispatcher.include_routers(*feature_routers())

    inbox, http = _http_server(
        settings, storage, dispatcher, bot, in_flight, metrics, purchases, loyalty, notices
    )
    application = Application(
        settings,
        storage,
        bot,
        dispatcher,
        in_flight,
        notices,
        http,
        faq,
        scheduler,
        desk,
        broadcasts,
        metrics,
        inbox,
    )
    dispatcher.startup.register(_on_startup(application, intake, customers, command_menu))
    dispatcher.shutdown.register(_on_shutdown(application))
    return application


def _http_server(
    settings: Settings,
    storage: Storage,
    dispatcher: Dispatcher,
    bot: Bot,
    in_flight: InFlight,
    metrics: Metrics,
    purchases: PurchaseService,
    loyalty: LoyaltyService,
    notices: NoticeWorker,
) -> tuple[WebhookInbox, HttpServer | None]:
    """The HTTP server (integration API, /healthz, /metrics, the webhook) and, in webhook
    mode, the inbox its webhook route stores updates in."""
    http = None
    # In polling mode too: updates a webhook deployment stored but did not handle are
    # handled at start-up (see _on_startup), so switching back to polling loses none.
    inbox = WebhookInbox(
        storage,
        dispatcher,
        bot,
        settings.webhook_secret_token(),
        lease_seconds=settings.telegram.webhook_lease_seconds,
        in_flight=settings.telegram.webhook_in_flight,
        metrics=metrics,
    )
    if settings.http.port:
        webhook = settings.telegram.webhook_url is not None
        health = Health(storage, bot, in_flight, "webhook" if webhook else "polling")
        api = create_api(
            ApiContext(
                storage=storage,
                purchases=purchases,
                loyalty=loyalty,
                tokens=ApiTokenService(storage),
                default_language=settings.telegram.default_language,
                on_change=notices.wake,
                health=health.report,
                limits=ApiLimits(
                    max_purchase_amount=settings.http.max_purchase_amount,
                    purchase_backdate_days=settings.http.purchase_backdate_days,
                    max_adjust_points=settings.http.max_adjust_points,
                ),
            ),
            outer_middlewares=(http_middleware(metrics),),
            # Telegram's updates may be larger than an API request; the API keeps its limit.
            client_max_size=MAX_UPDATE_BYTES if webhook else MAX_BODY_BYTES,
        )
        api.router.add_get("/metrics", metrics_route(metrics, storage))
        if webhook:
            api.router.add_post(settings.webhook_path, inbox.receive)
        http = HttpServer(api, settings.http.host, settings.http.port)
    return inbox, http


def _schedule_periodic_work(
    scheduler: Scheduler,
    settings: Settings,
    faq: FaqService,
    redemptions: RedemptionService,
    reviews: ReviewService,
) -> None:
    async def refresh_faq(_now: datetime) -> None:
        await faq.reload_if_changed()

    async def expire_codes(now: datetime) -> None:
        # Unused redemption codes give their points back soon after they expire.
        await redemptions.expire_due(now)

    async def ask_for_ratings(now: datetime) -> None:
        await reviews.queue_rating_requests(now)

    scheduler.every("faq-refresh", FAQ_REFRESH_SECONDS, refresh_faq)
    scheduler.every("redemption-expiry", REDEMPTION_SWEEP_SECONDS, expire_codes)
    scheduler.every("rating-requests", settings.jobs.tick_seconds, ask_for_ratings)


def _broadcasts(
    settings: Settings,
    storage: Storage,
    i18n: I18n,
    flood_gate: FloodGate,
    bot: Bot,
    rules: LoyaltyRules,
) -> tuple[BroadcastService, BroadcastWorker]:
    # Broadcasts go through a session of their own, without the retry middleware: a 429
    # must pause every broadcast send (the worker handles it), not just the one call; and
    # the recipients table, not the interaction log, records each delivery.
    broadcast_bot = Bot(
        bot.token,
        session=telegram_session(settings),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    service = BroadcastService(storage, settings.zone, settings.telegram.default_language)
    worker = BroadcastWorker(
        storage,
        broadcast_bot,
        service,
        i18n,
        settings.telegram.default_language,
        settings.zone,
        rate=settings.broadcasts.rate,
        in_flight=settings.broadcasts.in_flight,
        gate=flood_gate,
        quiet_hours=QuietHours.parse(settings.broadcasts.promotion_quiet_hours),
        poll_seconds=settings.broadcasts.poll_seconds,
        notify=bot,
        campaign_texts=CAMPAIGN_TEXTS,
        rules=rules,
    )
    return service, worker


def _support(
    settings: Settings,
    storage: Storage,
    bot: Bot,
    i18n: I18n,
    loyalty: LoyaltyService,
    scheduler: Scheduler,
) -> tuple[SupportService, SupportDesk]:
    """Human support: tickets, the agents' forum, and the first-response reminders."""
    support = SupportService(storage, loyalty, timedelta(minutes=settings.support.reopen_minutes))
    desk = SupportDesk(
        bot,
        support,
        i18n,
        settings.support.chat_id,
        settings.telegram.default_language,
        settings.support.priority_tiers,
        settings.zone,
    )
    if settings.support.first_response_minutes > 0:
        first_response = timedelta(minutes=settings.support.first_response_minutes)
        admin_ids = frozenset(settings.telegram.admin_ids)

        async def remind_waiting(_now: datetime) -> None:
            await desk.remind_waiting(first_response, admin_ids)

        # Looked at twice per allowed wait (at most every minute): a reminder comes at most
        # half the wait late.
        sweep = min(60.0, max(0.5, first_response.total_seconds() / 2))
        scheduler.every("support-first-response", sweep, remind_waiting)
    return support, desk


def _on_startup(
    app: Application, intake: IntakeService, customers: CustomerService, command_menu: CommandMenu
) -> Callable[[], Awaitable[None]]:
    async def on_startup() -> None:
        polling = app.settings.telegram.webhook_url is None
        orphaned = await intake.recover_after_restart(polling=polling)
        if orphaned:
            logger.warning("%d updates were cut short by the last stop; retrying them", orphaned)
        # Polling and a webhook exclude each other; a webhook left by an earlier
        # deployment would make every getUpdates fail with 409 Conflict.
        if polling:
            try:
                await app.bot.delete_webhook(drop_pending_updates=False)
            except TelegramAPIError as error:
                logger.warning(
                    "could not delete a webhook left by an earlier deployment: %s", error
                )
        try:
            admins = frozenset(app.settings.telegram.admin_ids)
            await command_menu.register(app.bot, await customers.known_telegram_ids(admins))
        except TelegramAPIError as error:
            logger.warning("could not register the command menu: %s", error)
        app.faq.start_warm_up(_faq_model_loader(app.settings))
        await app.desk.check()
        if app.desk.online:
            logger.info("human support: topics in chat %s", app.desk.chat_id)
        elif app.desk.chat_id is None:
            logger.info("human support is off: %s", app.desk.problem)
        else:
            logger.warning("HUMAN SUPPORT IS OFFLINE: %s", app.desk.problem)
        app.notices.start()
        app.scheduler.start()
        if polling and app.inbox is not None:
            app.inbox.start(until_empty=True)
        if app.broadcasts is not None:
            app.broadcasts.start()
        tune_garbage_collector()
        # Again once the FAQ index and model are in: they live as long as the process too.
        app.faq.after_warm_up(tune_garbage_collector)

    return on_startup


# Test-only: names a file the FAQ model's warm-up waits for before loading the model, so
# end-to-end tests can see the bot answer while the model is not there yet, then let it come.
FAQ_WARM_UP_GATE_VARIABLE = "TEST_FAQ_WARM_UP_GATE"
FAQ_WARM_UP_GATE_POLL_SECONDS = 0.05


def _faq_model_loader(settings: Settings) -> Callable[[], Awaitable[Embedder | None]]:
    gate = os.environ.get(FAQ_WARM_UP_GATE_VARIABLE)

    async def load() -> Embedder | None:
        if gate:
            logger.warning(
                "FAQ model held back until %s exists (%s)", gate, FAQ_WARM_UP_GATE_VARIABLE
            )
            while not Path(gate).exists():
                await asyncio.sleep(FAQ_WARM_UP_GATE_POLL_SECONDS)
        return await asyncio.to_thread(
            default_embedder, cache_directory(settings.database.sqlite_path)
        )

    return load


def _on_shutdown(app: Application) -> Callable[[], Awaitable[None]]:
    async def on_shutdown() -> None:
        grace = app.settings.telegram.shutdown_grace_seconds
        if not await app.in_flight.drained(grace):
            logger.warning("%d updates still running after %.0f s", app.in_flight.count, grace)
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if app.inbox is not None and app.settings.telegram.webhook_url is None:
            inbox = app.inbox
            steps.append(("the webhook inbox", lambda: inbox.stop(grace)))
        steps.append(("the FAQ warm-up", app.faq.stop_warm_up))
        steps.append(("the scheduler", app.scheduler.stop))
        if app.broadcasts is not None:
            steps += [("the broadcast worker", app.broadcasts.stop)]
            steps += [("the broadcast session", app.broadcasts.close)]
        steps.append(("the notice worker", app.notices.stop))
        if app.http is not None:
            steps.append(("the HTTP server", app.http.stop))
        steps.append(("the storage", app.storage.close))
        for name, stop in steps:
            await _within(name, stop(), grace)
        logger.info("storage closed")

    return on_shutdown


async def _within(name: str, step: Awaitable[None], seconds: float) -> None:
    """One shutdown step, given at most `seconds`: a step that never ends must not keep the
    process from exiting (the supervisor's SIGKILL would cost every later step)."""
    try:
        await asyncio.wait_for(step, max(seconds, 1.0))
    except TimeoutError:
        logger.error("shutdown: %s did not stop within %.0f s; going on", name, seconds)
    except Exception:
        logger.exception("shutdown: %s failed to stop; going on", name)


# How often the bot looks for an FAQ imported by another process (the operator CLI).
FAQ_REFRESH_SECONDS = 10.0
REDEMPTION_SWEEP_SECONDS = 30.0


def tune_garbage_collector() -> None:
    """Everything loaded at start-up (aiogram's ~600 pydantic models, catalogues, the FAQ
    index) lives as long as the process; without this, every full collection walks it all
    again. Freezing it and collecting the young generation less often cut CPU per update from
    1.33 ms to 0.81 ms in benchmarks/updates.py; cyclic garbage still goes, a little later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def check_telegram(bot: Bot, attempts: int = 5) -> None:
    """Fail fast with a clear message on a bad token; wait out a short network outage."""
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            me = await bot.get_me()
        except TelegramUnauthorizedError:
            raise SettingsError(
                "BOT_TOKEN was rejected by Telegram (401 Unauthorized): "
                "copy the token again from @BotFather"
            ) from None
        except Exception as error:  # network errors come in many types; all mean "retry"
            if attempt == attempts:
                raise SettingsError(
                    f"TELEGRAM_API_URL is unreachable ({type(error).__name__}: {error}): "
                    "check the network or the URL"
                ) from None
            logger.warning("Telegram unreachable (%s); retrying in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay *= 2
        else:
            logger.info("connected as @%s (id %s)", me.username, me.id)
            return


async def run_bot(settings: Settings) -> None:
    app = await create_application(settings)
    try:
        await check_telegram(app.bot)
        if app.http is not None:
            await app.http.start()
    except BaseException:
        await app.storage.close()
        await app.bot.session.close()
        raise
    if app.settings.telegram.webhook_url is not None and app.inbox is not None:
        await _run_webhook(app, app.inbox)
        return
    await app.dispatcher.start_polling(
        app.bot, allowed_updates=ALLOWED_UPDATES, polling_timeout=25, handle_signals=True
    )


async def _run_webhook(app: Application, inbox: WebhookInbox) -> None:
    """Webhook mode: the HTTP server (already listening) stores updates in the inbox and
    the inbox worker handles them; runs until SIGTERM or SIGINT."""
    dispatcher, bot = app.dispatcher, app.bot
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workflow = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data}
    await dispatcher.emit_startup(bot=bot, **workflow)
    try:
        inbox.start()
        assert app.settings.telegram.webhook_url is not None
        await register_webhook(
            bot,
            app.settings.telegram.webhook_url,
            app.settings.webhook_secret_token(),
            ALLOWED_UPDATES,
            max_connections=min(100, app.settings.telegram.webhook_in_flight),
        )
        logger.info("handling webhook updates as %s", inbox.owner)
        await stop.wait()
        logger.info("stopping: no more webhook updates are taken")
    finally:
        # The webhook stays set: other replicas (or this one, restarted) take the updates.
        await inbox.stop(app.settings.telegram.shutdown_grace_seconds)
        try:
            await dispatcher.emit_shutdown(bot=bot, **workflow)
        finally:
            await bot.session.close()
