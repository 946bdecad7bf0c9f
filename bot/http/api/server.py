"""The HTTP server: the integration API for tills and shops, and /healthz.

Runs in the bot's process on HTTP_HOST:HTTP_PORT. Every /api/v1 route but the OpenAPI
description needs `Authorization: Bearer <token>` (tokens from `python -m bot api-token`),
and the token needs the route's scope (ROUTE_SCOPES).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.config.errors import SettingsError
from bot.http.api.openapi import openapi_document
from bot.http.api.schemas import (
    INT64_MAX,
    AdjustIn,
    AdjustOut,
    ApiLimits,
    CustomerOut,
    ErrorOut,
    ExpiringOut,
    FieldError,
    PurchaseIn,
    PurchaseOut,
    RefundIn,
    RefundOut,
    TierOut,
)
from bot.services.access import Actor
from bot.services.api_tokens import ApiTokenService
from bot.services.loyalty.idempotency import RequestConflict
from bot.services.loyalty.ledger import InsufficientPoints
from bot.services.loyalty.purchases import (
    CustomerRef,
    PurchaseError,
    PurchaseRequest,
    PurchaseService,
    UnknownOrder,
    to_minor,
)
from bot.services.loyalty.service import LoyaltyService
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 64 * 1024
# The scope a token needs for each route (bot.services.api_tokens.SCOPES).
ROUTE_SCOPES = {
    "/api/v1/purchases": "purchases",
    "/api/v1/refunds": "refunds",
    "/api/v1/customers/{telegram_id}": "customers:read",
    "/api/v1/points/adjust": "points:adjust",
}
_ASCII_ID = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class ApiContext:
    storage: Storage
    purchases: PurchaseService
    loyalty: LoyaltyService
    tokens: ApiTokenService
    default_language: str
    on_change: Callable[[], None]  # wakes the notice worker
    limits: ApiLimits = ApiLimits()
    # The full health report (status code, document); None: the database check only.
    health: Callable[[], Awaitable[tuple[int, dict[str, Any]]]] | None = None


CONTEXT = web.AppKey("context", ApiContext)
TOKEN_NAME = "token_name"
_PUBLIC = frozenset({"/healthz", "/metrics", "/api/v1/openapi.json"})


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def _error(status: int, error: str, errors: list[FieldError] | None = None) -> web.Response:
    return _json(ErrorOut(error=error, errors=errors or []), status)


def _field_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(
            field=".".join(str(part) for part in problem["loc"]) or "body",
            message=problem["msg"].removeprefix("Value error, "),
        )
        for problem in error.errors()
    ]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as error:
        return _error(422, "invalid request", _field_errors(error))
    except RequestConflict as error:
        return _error(
            409, str(error), [FieldError(field=field, message=str(error)) for field in error.fields]
        )
    except UnknownOrder as error:
        return _error(404, str(error), [FieldError(field=error.field, message=str(error))])
    except PurchaseError as error:
        return _error(422, str(error), [FieldError(field=error.field, message=str(error))])
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("API request %s %s failed", request.method, request.path)
        return _error(500, "internal error; nothing was recorded")


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _PUBLIC or not request.path.startswith("/api/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    verified = None
    if scheme.lower() == "bearer" and token.strip():
        verified = await request.app[CONTEXT].tokens.verify(token.strip())
    if verified is None:
        response = _error(401, "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    resource = request.match_info.route.resource  # None: no such route (a 404 follows)
    scope = ROUTE_SCOPES.get(resource.canonical) if resource is not None else None
    if scope is not None and scope not in verified.scopes:
        return _error(
            403,
            f"this token lacks the scope {scope}",
            [FieldError(field="scope", message=f"{scope} is required")],
        )
    request[TOKEN_NAME] = verified.name
    return await handler(request)


def _not_a_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _body(request: web.Request) -> Any:
    """The JSON body, at most MAX_BODY_BYTES even without a Content-Length (the app's own
    limit is higher for the webhook's sake)."""
    too_large = web.HTTPRequestEntityTooLarge(
        max_size=MAX_BODY_BYTES, actual_size=request.content_length or MAX_BODY_BYTES + 1
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    raw = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(raw)):
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise too_large
    try:
        return json.loads(bytes(raw), parse_constant=_not_a_json_constant)
    except RecursionError:
        raise PurchaseError("body", "is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError, and ints of 4300+ digits
        raise web.HTTPBadRequest(
            text=ErrorOut(error="the body is not JSON").model_dump_json(),
            content_type="application/json",
        ) from None


async def healthz(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    if context.health is not None:
        status, document = await context.health()
        return web.json_response(document, status=status)
    async with context.storage.read() as uow:
        await uow.session.fetch_value("SELECT 1")
    return web.json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[CONTEXT].limits))


async def record_purchase(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = PurchaseIn.model_validate(await _body(request), context=context.limits)
    currency = context.loyalty.rules.currency
    if body.currency is not None and body.currency != currency:
        raise PurchaseError("currency", f"this programme counts purchases in {currency}")
    result = await context.purchases.record(
        PurchaseRequest(
            order_id=body.order_id,
            customer=CustomerRef(telegram_id=body.telegram_id, card=body.card),
            amount_minor=to_minor(body.amount),
            currency=currency,
            purchased_at=body.purchased_at,
            recorded_by=f"api:{request[TOKEN_NAME]}",
        )
    )
    if result.created:
        context.on_change()
    purchase = result.purchase
    out = PurchaseOut(
        order_id=purchase.order_id,
        telegram_id=result.telegram_id,
        amount=Decimal(purchase.amount_minor) / 100,
        currency=purchase.currency,
        purchased_at=purchase.purchased_at,
        points_earned=purchase.points,
        balance=purchase.balance_after,
        tier=purchase.tier,
        replayed=not result.created,
    )
    return _json(out, 201 if result.created else 200)


async def record_refund(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = RefundIn.model_validate(await _body(request), context=context.limits)
    result = await context.purchases.refund(
        body.order_id, None if body.amount is None else to_minor(body.amount), body.refund_id
    )
    if result.created:
        context.on_change()
    out = RefundOut(
        order_id=result.order_id,
        amount=Decimal(result.amount_minor) / 100,
        points_reversed=result.points_reversed,
        points_uncollected=result.points_uncollected,
        balance=result.balance,
        replayed=not result.created,
    )
    return _json(out, 201 if result.created else 200)


async def show_customer(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    raw_id = request.match_info["telegram_id"]
    # str.isdigit() and int() take "²" and other Unicode digits; ids are ASCII and 64-bit.
    if not _ASCII_ID.fullmatch(raw_id) or int(raw_id) > INT64_MAX:
        return _error(
            422,
            "invalid request",
            [FieldError(field="telegram_id", message="not a Telegram id (digits 0-9, 64-bit)")],
        )
    async with context.storage.read() as uow:
        customer = await uow.customers.by_telegram_id(int(raw_id))
    if customer is None:
        return _error(404, "no customer with this Telegram id")
    customer = await context.loyalty.ensure_codes(customer)
    summary = await context.loyalty.summary(customer, history=0)
    language = customer.language or context.default_language
    next_tier = summary.next_tier
    spend = Decimal(summary.spend_minor) / 100
    out = CustomerOut(
        telegram_id=int(raw_id),
        first_name=customer.first_name,
        last_name=customer.last_name,
        username=customer.username,
        language=customer.language,
        card=customer.card_code,
        balance=summary.balance,
        tier=TierOut(
            id=summary.tier.id,
            name=summary.tier.title(language),
            spend_12_months=spend,
            next_tier=next_tier.id if next_tier else None,
            spend_to_next=(next_tier.spend - spend) if next_tier else None,
        ),
        expiring_soon=[
            ExpiringOut(points=item.points, expires_at=item.expires_at) for item in summary.expiring
        ],
        first_seen=customer.first_seen,
        last_seen=customer.last_seen,
    )
    return _json(out)


async def adjust_points(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = AdjustIn.model_validate(await _body(request), context=context.limits)
    async with context.storage.read() as uow:
        customer = await uow.customers.by_telegram_id(body.telegram_id)
    if customer is None:
        raise PurchaseError("telegram_id", "no customer with this Telegram id")
    try:
        adjustment = await context.loyalty.adjust(
            Actor("api", None),
            customer,
            body.delta,
            f"{body.reason} (API token {request[TOKEN_NAME]})",
            key=f"adjust:{body.idempotency_key}" if body.idempotency_key else None,
        )
    except InsufficientPoints as error:
        raise PurchaseError(
            "delta", f"the balance is {error.available}; it cannot go below 0"
        ) from None
    if not adjustment.replayed:
        context.on_change()
    return _json(
        AdjustOut(
            telegram_id=body.telegram_id,
            balance_before=adjustment.balance_before,
            balance_after=adjustment.balance_after,
            replayed=adjustment.replayed,
        )
    )


def create_api(
    context: ApiContext,
    outer_middlewares: tuple[Any, ...] = (),
    client_max_size: int = MAX_BODY_BYTES,
) -> web.Application:
    """The app; `client_max_size` is for routes added later (the webhook takes Telegram's
    larger updates), the API's own routes keep MAX_BODY_BYTES."""
    app = web.Application(
        middlewares=[*outer_middlewares, _errors, _auth], client_max_size=client_max_size
    )
    app[CONTEXT] = context
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_post("/api/v1/purchases", record_purchase)
    app.router.add_post("/api/v1/refunds", record_refund)
    app.router.add_get("/api/v1/customers/{telegram_id}", show_customer)
    app.router.add_post("/api/v1/points/adjust", adjust_points)
    return app


class HttpServer:
    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            raise SettingsError(
                f"HTTP_PORT {self._port} on HTTP_HOST {self._host} cannot be used: {error.strerror}"
            ) from None
        logger.info("HTTP API listening on http://%s:%d", self._host, self._port)

    async def stop(self) -> None:
        await self._runner.cleanup()
