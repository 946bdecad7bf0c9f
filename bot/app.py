"""Assembling the bot: storage, services, the Bot session, the Dispatcher and its routers."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import os
import re
import signal
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from aiogram.utils.i18n import I18n

from bot.config import Settings, SettingsError
from bot.container import Services
from bot.domain.quiet_hours import QuietHours
from bot.domain.rates import Rate
from bot.http.api.schemas import ApiLimits
from bot.http.api.server import MAX_BODY_BYTES, ApiContext, HttpServer, create_api
from bot.http.health import Health
from bot.http.metrics import (
    ErrorCounter,
    Metrics,
    UpdateMetricsMiddleware,
    http_middleware,
    metrics_route,
)
from bot.http.webhook import MAX_UPDATE_BYTES, WebhookInbox, register_webhook
from bot.i18n import create_i18n
from bot.jobs.catalogue import register_jobs, register_running_bot_jobs
from bot.jobs.scheduler import Scheduler
from bot.loop_watch import watch_loop
from bot.services.access import AuditLog, RoleService
from bot.services.analytics import AnalyticsService
from bot.services.api_tokens import ApiTokenService
from bot.services.broadcasts.service import BroadcastService
from bot.services.customer_cache import CustomerCache
from bot.services.customers import CustomerService
from bot.services.faq.lemmas import LEXICONS
from bot.services.faq.matcher import Embedder, default_embedder
from bot.services.faq.model_cache import cache_directory
from bot.services.faq.onnx_e5 import TunedWeights
from bot.services.faq.service import FaqService, TunedLoader, tuned_model_loader
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
from bot.services.ticket_desk import TicketDesk
from bot.telegram.broadcasts.flood import FloodGate
from bot.telegram.broadcasts.worker import BroadcastWorker
from bot.telegram.commands import CommandMenu
from bot.telegram.fsm import create_fsm
from bot.telegram.middlewares.intake import InFlight, IntakeMiddleware
from bot.telegram.middlewares.locale import CustomerLocaleMiddleware
from bot.telegram.middlewares.roles import RolesMiddleware
from bot.telegram.middlewares.services import ServicesMiddleware
from bot.telegram.middlewares.throttling import ThrottlingMiddleware
from bot.telegram.notices import Renderer
from bot.telegram.notices.campaigns import RENDERERS as CAMPAIGN_TEXTS
from bot.telegram.notices.campaigns import check_campaign_texts
from bot.telegram.notices.expiry import RENDERERS as EXPIRY_NOTICES
from bot.telegram.notices.loyalty import RENDERERS as LOYALTY_NOTICES
from bot.telegram.notices.reviews import RENDERERS as REVIEW_NOTICES
from bot.telegram.notices.rewards import RENDERERS as REWARD_NOTICES
from bot.telegram.notices.worker import NoticeWorker
from bot.telegram.outbound import OutboundLogMiddleware
from bot.telegram.polling import PollingBacklog
from bot.telegram.retry import RetryMiddleware
from bot.telegram.session import telegram_session
from bot.telegram.support_desk import SupportDesk
from handlers import feature_routers
from storage.migrations import apply_migrations
from storage.repositories.faq import FaqTuning
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
    # Stops everything start-up began; runs once, whichever of aiogram and run_bot asks first.
    shutdown: Callable[[], Awaitable[None]] | None = None


def read_operator_files(settings: Settings) -> tuple[LoyaltyRules, Snippets, I18n]:
    """Read first: a bad file (rules, snippets, a campaign's translation) stops start-up,
    naming what is wrong, before anything opens, so nothing holds the process up after."""
    rules = load_rules(settings.loyalty.rules_file)
    i18n = create_i18n(settings.telegram.default_language)
    check_campaign_texts(i18n, rules)
    return rules, Snippets.load(settings.support.snippets), i18n


async def create_application(settings: Settings) -> Application:
    """The composition root: read and check the operator's files, migrate, then wire the
    storage, Telegram, the services, the Dispatcher and the HTTP server together."""
    token = settings.require_token()
    rules, snippets, i18n = read_operator_files(settings)
    # The FAQ's warm-up reads the lemmatiser's lexicons from copies beside the model's graph.
    LEXICONS.keep_copies_in(cache_directory(settings.database.sqlite_path))
    await asyncio.to_thread(apply_migrations, settings.database.url)
    storage = await open_storage(settings.database.url)
    customer_cache = CustomerCache()
    log = InteractionLog(storage, customer_cache)
    bot, flood_gate = _telegram(settings, token, log)
    services, scheduler = _services(
        settings, storage, bot, flood_gate, i18n, rules, snippets, log, customer_cache
    )
    polling = settings.telegram.webhook_url is None
    # Webhook mode: the inbox claims no more than WEBHOOK_IN_FLIGHT updates at once itself.
    in_flight = InFlight(settings.telegram.polling_in_flight if polling else None)
    metrics = Metrics()
    dispatcher = _dispatcher(services, storage, i18n, in_flight, metrics)
    if polling:
        polled = dispatcher._handle_update_tasks  # aiogram's task per polled update
        bot.session.middleware(PollingBacklog(polled, settings.telegram.polling_held))
    inbox, http = _http_server(
        settings,
        storage,
        dispatcher,
        bot,
        in_flight,
        metrics,
        services.purchases,
        services.loyalty,
        services.notices,
        services.faq,
    )
    application = Application(
        settings,
        storage,
        bot,
        dispatcher,
        in_flight,
        services.notices,
        http,
        services.faq,
        scheduler,
        services.desk,
        services.broadcast_worker,
        metrics,
        inbox,
    )
    dispatcher.startup.register(
        _on_startup(application, services.intake, services.customers, services.command_menu)
    )
    application.shutdown = _on_shutdown(application)
    dispatcher.shutdown.register(application.shutdown)
    return application


def _services(
    settings: Settings,
    storage: Storage,
    bot: Bot,
    flood_gate: FloodGate,
    i18n: I18n,
    rules: LoyaltyRules,
    snippets: Snippets,
    log: InteractionLog,
    customer_cache: CustomerCache,
) -> tuple[Services, Scheduler]:
    """Every service the handlers may ask for, and the scheduler with its jobs registered."""
    admin_ids = frozenset(settings.telegram.admin_ids)
    command_menu = CommandMenu(
        i18n, settings.telegram.default_language, admin_ids, settings.support.chat_id
    )
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
    faq = FaqService(storage, None, tuned_loader=_tuned_faq_model_loader(settings))
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
    broadcast_service, broadcasts = _broadcasts(settings, storage, i18n, flood_gate, bot, rules)
    support, desk = _support(settings, storage, bot, i18n, loyalty)
    register_running_bot_jobs(scheduler, settings, faq, redemptions, reviews, desk)
    services = Services(
        settings=settings,
        log=log,
        intake=IntakeService(storage, customer_cache),
        customers=CustomerService(storage, customer_cache),
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
        tickets=TicketDesk(support, desk),
        snippets=snippets,
    )
    return services, scheduler


def _telegram(settings: Settings, token: str, log: InteractionLog) -> tuple[Bot, FloodGate]:
    """The bot, its every call logged to the customer's record and retried after 429/5xx."""
    session = telegram_session(settings)
    # The first registered wraps the rest: a call retried after a 429 is logged once.
    session.middleware(OutboundLogMiddleware(log))
    flood_gate = FloodGate()
    session.middleware(RetryMiddleware(flood_gate=flood_gate))
    bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    return bot, flood_gate


def _dispatcher(
    services: Services, storage: Storage, i18n: I18n, in_flight: InFlight, metrics: Metrics
) -> Dispatcher:
    """The Dispatcher: the services as its data, the middlewares every update passes, and the
    feature routers."""
    settings = services.settings
    fsm_storage, events_isolation = create_fsm(
        storage, settings.telegram.redis_url, polling=settings.telegram.webhook_url is None
    )
    dispatcher = Dispatcher(storage=fsm_storage, events_isolation=events_isolation)
    # One key on the way through the routers; every service by name once a handler is chosen.
    dispatcher.workflow_data["services"] = services
    spread = ServicesMiddleware(services.workflow_data())
    for name, observer in dispatcher.observers.items():
        if name != "update":  # the update observer's only handler walks the routers
            observer.middleware(spread)
    logging.getLogger().addHandler(ErrorCounter(metrics))
    dispatcher.update.outer_middleware(UpdateMetricsMiddleware(metrics))
    # Outer middlewares run in the order registered: claim and record the update first,
    # then pick the language and the sender's role that everything after relies on.
    dispatcher.update.outer_middleware(IntakeMiddleware(services.intake, in_flight))
    CustomerLocaleMiddleware(i18n, settings.telegram.default_language).setup(dispatcher)
    dispatcher.update.outer_middleware(RolesMiddleware(services.role_service))
    throttling = ThrottlingMiddleware(Rate.parse(settings.telegram.throttle_rate))
    dispatcher.message.outer_middleware(throttling)
    dispatcher.callback_query.outer_middleware(throttling)
    dispatcher.callback_query.middleware(CallbackAnswerMiddleware())
    dispatcher.include_routers(*feature_routers())
    return dispatcher


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
    faq: FaqService,
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
        health = Health(
            storage,
            bot,
            in_flight,
            "webhook" if webhook else "polling",
            faq_warming_up=lambda: faq.warming_up,
        )
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
    service = BroadcastService(
        storage,
        settings.zone,
        settings.telegram.default_language,
        tiers=[tier.id for tier in rules.tiers],
        staff=frozenset(settings.telegram.admin_ids),
    )
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
    settings: Settings, storage: Storage, bot: Bot, i18n: I18n, loyalty: LoyaltyService
) -> tuple[SupportService, SupportDesk]:
    """Human support: tickets and the agents' forum."""
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
        # A daemon thread: a stop during a first start's build (tens of seconds on a slow
        # box) must not wait for it; the cache is written atomically, so nothing is torn.
        embedder = await in_daemon_thread(
            default_embedder, cache_directory(settings.database.sqlite_path)
        )
        # Before the phrasings are embedded: the graph's bytes and the build are garbage now,
        # and the peak comes with the index.
        release_freed_memory()
        return embedder

    return load


def _tuned_faq_model_loader(settings: Settings) -> TunedLoader:
    # A daemon thread, as for the packaged model (see _faq_model_loader).
    load = tuned_model_loader(cache_directory(settings.database.sqlite_path), in_daemon_thread)

    async def loaded(
        tuning: FaqTuning, read_weights: Callable[[], Awaitable[TunedWeights | None]]
    ) -> Embedder | None:
        embedder = await load(tuning, read_weights)
        release_freed_memory()
        return embedder

    return loaded


T = TypeVar("T")


async def in_daemon_thread(function: Callable[..., T], *arguments: object) -> T:
    """`function(*arguments)` in a thread the interpreter does not wait for at exit (unlike
    asyncio.to_thread's pool), for long optional work a stop may abandon."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        try:
            result = function(*arguments)
        except BaseException as error:  # handed to the awaiting task, not lost
            outcome: Callable[[], None] = functools.partial(future.set_exception, error)
        else:
            outcome = functools.partial(future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name=getattr(function, "__name__", "worker"), daemon=True).start()
    return await future


def _on_shutdown(app: Application) -> Callable[[], Awaitable[None]]:
    done = False

    async def on_shutdown() -> None:
        nonlocal done
        if done:
            return
        done = True
        grace = app.settings.telegram.shutdown_grace_seconds
        # Updates aiogram has taken from Telegram but whose task has not reached our
        # middlewares yet are not counted in flight: wait for aiogram's own tasks too.
        polled: set[asyncio.Task[Any]] = set(app.dispatcher._handle_update_tasks)
        if polled:
            _done, late = await asyncio.wait(polled, timeout=grace)
            for task in late:
                task.cancel()
        if not await app.in_flight.drained(grace):
            logger.warning(
                "%d updates still running after %.0f s: cut short, to be handled again at "
                "the next start",
                app.in_flight.count,
                grace,
            )
            await app.in_flight.cancel_remaining(grace)
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


def tune_garbage_collector() -> None:
    """Everything loaded at start-up (aiogram's ~600 pydantic models, catalogues, the FAQ
    index) lives as long as the process; without this, every full collection walks it all
    again. Freezing it and collecting the young generation less often cut CPU per update from
    1.33 ms to 0.81 ms in benchmarks/updates.py; cyclic garbage still goes, a little later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    release_freed_memory()


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc's malloc_trim). Loading the FAQ
    frees tens of MiB (the serialised graph, the build's temporaries, the threads that
    embedded the phrasings) that glibc would otherwise keep: measured, 23 MiB of RSS after
    the warm-up. Elsewhere (musl, macOS) nothing to do."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    release_library_code(_LOADED_ONCE_LIBRARIES)


# Libraries whose start-up touches far more machine code than their steady use runs:
# onnxruntime's ~18 MiB of code pages resident after a session is created, most of it
# initialisation and kernels this graph never calls.
_LOADED_ONCE_LIBRARIES = ("onnxruntime_pybind11_state",)
_MADV_DONTNEED = 4
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ")


def release_library_code(names: tuple[str, ...]) -> None:
    """Drop the resident code pages of the shared libraries named (Linux): each is a clean,
    read-only, executable mapping of the library's file, so the kernel simply reads a page
    back from the file when it runs again, and only the code still in use returns. Any
    mapping with private or anonymous pages (relocated data) is left alone."""
    if _MADVISE is None:
        return
    try:
        smaps = Path("/proc/self/smaps").read_text()
    except OSError:
        return
    region: tuple[int, int] | None = None
    clean = True
    for line in [*smaps.splitlines(), "0-0 ---p end"]:
        mapping = _MAPPING.match(line)
        if mapping is None:
            field, _, value = line.partition(":")
            if field in ("Private_Dirty", "Anonymous") and value.split()[0] != "0":
                clean = False
            continue
        if region is not None and clean:
            _MADVISE(ctypes.c_void_p(region[0]), ctypes.c_size_t(region[1]), _MADV_DONTNEED)
        start, end, permissions = mapping.groups()
        path = line.rsplit(" ", 1)[-1]
        wanted = permissions == "r-xp" and any(name in path for name in names)
        region = (int(start, 16), int(end, 16) - int(start, 16)) if wanted else None
        clean = True


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. Alpine's musl)
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim


_MALLOC_TRIM = _glibc_malloc_trim()


def _libc_madvise() -> Callable[[ctypes.c_void_p, ctypes.c_size_t, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    madvise: Callable[[ctypes.c_void_p, ctypes.c_size_t, int], int] = libc.madvise
    return madvise


_MADVISE = _libc_madvise()


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


_BOUNDED_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def bound_worker_threads() -> None:
    """One worker thread per core (at least two) for `asyncio.to_thread`, instead of
    Python's cores + 4. What the bot sends there (the FAQ match, charts, QR codes) is mostly
    Python and numpy holding the GIL, which more threads than cores only hand back and
    forth; measured under benchmarks/updates.py's burst (two pairs, 2 cores): CPU per
    update −4–6 %, peak RSS −1.2 MiB. A slow job (a chart) still leaves a thread for the
    FAQ."""
    loop = asyncio.get_running_loop()
    if loop in _BOUNDED_LOOPS:
        return
    workers = max(2, os.cpu_count() or 1)
    loop.set_default_executor(ThreadPoolExecutor(workers, thread_name_prefix="bot-worker"))
    _BOUNDED_LOOPS.add(loop)


async def run_bot(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Until SIGTERM or SIGINT; given `stop`, until it is set instead: a caller that runs more
    than the bot (the sandbox, always polling) handles the signals itself."""
    bound_worker_threads()
    app = await create_application(settings)
    try:
        await check_telegram(app.bot)
        if app.http is not None:
            await app.http.start()
    except BaseException:
        await app.storage.close()
        await app.bot.session.close()
        raise
    stall_seconds = app.settings.logging.loop_stall_seconds
    watch = asyncio.create_task(watch_loop(stall_seconds)) if stall_seconds > 0 else None
    try:
        await _serve(app, stop)
    finally:
        if watch is not None:
            watch.cancel()


async def _serve(app: Application, stop: asyncio.Event | None) -> None:
    if app.settings.telegram.webhook_url is not None and app.inbox is not None:
        await _run_webhook(app, app.inbox)
        return
    polling = app.dispatcher.start_polling(
        app.bot,
        allowed_updates=ALLOWED_UPDATES,
        polling_timeout=25,
        handle_signals=stop is None,
        # POLLING_IN_FLIGHT is applied where handling starts (InFlight), POLLING_HELD before
        # updates are taken (PollingBacklog): aiogram's own cap would count both as one.
    )
    try:
        await (polling if stop is None else _poll_until(app.dispatcher, polling, stop))
    finally:
        # Cancelled while aiogram still ran the start-up hooks (or stopped before polling),
        # its shutdown never runs, and the storage's thread and the HTTP server would keep
        # the process alive. Runs once: after aiogram's own shutdown this does nothing.
        assert app.shutdown is not None
        await app.shutdown()
        await app.bot.session.close()


async def _poll_until(
    dispatcher: Dispatcher, polling: Coroutine[Any, Any, None], stop: asyncio.Event
) -> None:
    """Poll until `stop` is set, then stop as a signal would: aiogram ends its polling tasks
    and runs the shutdown hooks (cancelling it instead leaves the polling tasks running)."""
    if stop.is_set():
        polling.close()
        return
    task = asyncio.create_task(polling)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            try:
                await dispatcher.stop_polling()
            except RuntimeError:  # not polling yet: nothing of it to end
                task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            task.result()  # raises what stopped the polling
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
