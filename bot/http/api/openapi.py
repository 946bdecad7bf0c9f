"""The OpenAPI 3.1 description, built from the same pydantic models that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from bot.http.api.schemas import (
    INT64_MAX,
    AdjustIn,
    AdjustOut,
    ApiLimits,
    CustomerOut,
    ErrorOut,
    PurchaseIn,
    PurchaseOut,
    RefundIn,
    RefundOut,
)

_REF = "#/components/schemas/{model}"
DEFAULT_LIMITS = ApiLimits()


def _body(model: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }


def _response(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }


_ERRORS = {
    "401": _response("No valid bearer token", "ErrorOut"),
    "413": _response("The body is larger than 64 KiB", "ErrorOut"),
    "422": _response(
        "Invalid input (including past the limits MAX_PURCHASE_AMOUNT, "
        "PURCHASE_BACKDATE_DAYS, MAX_ADJUST_POINTS); `errors` names each field",
        "ErrorOut",
    ),
}


def _scoped(scope: str, responses: dict[str, Any]) -> dict[str, Any]:
    """What an operation says about the token scope it needs (api-token create --scope)."""
    return {
        "x-required-scope": scope,
        "responses": {
            **responses,
            "403": _response(f"The token lacks the scope {scope}", "ErrorOut"),
            **_ERRORS,
        },
    }


def _conflict(key: str) -> dict[str, Any]:
    return _response(
        f"{key} was used before for another request; `errors` names the fields that differ",
        "ErrorOut",
    )


def _apply_limits(schemas: dict[str, Any], limits: ApiLimits) -> None:
    """The configured limits, as JSON Schema bounds where a bound can say them."""
    amount = schemas["PurchaseIn"]["properties"]["amount"]
    for variant in amount.get("anyOf", [amount]):
        if variant.get("type") == "number":
            variant["maximum"] = float(limits.max_purchase_amount)
    delta = schemas["AdjustIn"]["properties"]["delta"]
    delta["minimum"], delta["maximum"] = -limits.max_adjust_points, limits.max_adjust_points


@cache
def openapi_document(limits: ApiLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    _, schemas = models_json_schema(
        [
            (model, "validation" if model.__name__.endswith("In") else "serialization")
            for model in (
                PurchaseIn,
                PurchaseOut,
                RefundIn,
                RefundOut,
                AdjustIn,
                AdjustOut,
                CustomerOut,
                ErrorOut,
            )
        ],
        ref_template=_REF,
    )
    definitions = schemas.get("$defs", {})
    _apply_limits(definitions, limits)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Loyalty & Support Bot API", "version": "1"},
        "components": {
            "schemas": definitions,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/purchases": {
                "post": {
                    "summary": "Record a purchase and award points (idempotent by order_id)",
                    "requestBody": _body("PurchaseIn"),
                    **_scoped(
                        "purchases",
                        {
                            "201": _response("Recorded", "PurchaseOut"),
                            "200": _response(
                                "The same request was recorded before: the first result",
                                "PurchaseOut",
                            ),
                            "409": _conflict("order_id"),
                        },
                    ),
                }
            },
            "/api/v1/refunds": {
                "post": {
                    "summary": "Refund (part of) an order and take its points back proportionally",
                    "requestBody": _body("RefundIn"),
                    **_scoped(
                        "refunds",
                        {
                            "201": _response("Refunded", "RefundOut"),
                            "200": _response(
                                "The same refund was made before: the first result", "RefundOut"
                            ),
                            "404": _response("Unknown order", "ErrorOut"),
                            "409": _conflict("refund_id"),
                        },
                    ),
                }
            },
            "/api/v1/customers/{telegram_id}": {
                "get": {
                    "summary": "A customer's profile, balance, tier and points expiring soon",
                    "parameters": [
                        {
                            "name": "telegram_id",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": INT64_MAX,
                            },
                        }
                    ],
                    **_scoped(
                        "customers:read",
                        {
                            "200": _response("The customer", "CustomerOut"),
                            "404": _response("Unknown customer", "ErrorOut"),
                        },
                    ),
                }
            },
            "/api/v1/points/adjust": {
                "post": {
                    "summary": "Correct a balance by hand, with a reason (audited)",
                    "requestBody": _body("AdjustIn"),
                    **_scoped(
                        "points:adjust",
                        {
                            "200": _response(
                                "Adjusted, or (replayed) adjusted before with this key",
                                "AdjustOut",
                            ),
                            "409": _conflict("idempotency_key"),
                        },
                    ),
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: the process answers and the database is readable",
                    "security": [],
                    "responses": {"200": {"description": "OK"}},
                }
            },
        },
    }
