"""The OpenAPI 3.1 description, built from the same pydantic models that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from bot.api.schemas import (
    AdjustIn,
    AdjustOut,
    CustomerOut,
    ErrorOut,
    PurchaseIn,
    PurchaseOut,
    RefundIn,
    RefundOut,
)

_REF = "#/components/schemas/{model}"


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
    "422": _response("Invalid input; `errors` names each field", "ErrorOut"),
}


@cache
def openapi_document() -> dict[str, Any]:
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
    return {
        "openapi": "3.1.0",
        "info": {"title": "Loyalty & Support Bot API", "version": "1"},
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/purchases": {
                "post": {
                    "summary": "Record a purchase and award points (idempotent by order_id)",
                    "requestBody": _body("PurchaseIn"),
                    "responses": {
                        "201": _response("Recorded", "PurchaseOut"),
                        "200": _response("Recorded before: the first result", "PurchaseOut"),
                        "409": _response(
                            "order_id used with another customer or amount", "ErrorOut"
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/refunds": {
                "post": {
                    "summary": "Refund (part of) an order and take its points back proportionally",
                    "requestBody": _body("RefundIn"),
                    "responses": {
                        "201": _response("Refunded", "RefundOut"),
                        "200": _response("Refunded before: the first result", "RefundOut"),
                        "404": _response("Unknown order", "ErrorOut"),
                        **_ERRORS,
                    },
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
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": _response("The customer", "CustomerOut"),
                        "404": _response("Unknown customer", "ErrorOut"),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/points/adjust": {
                "post": {
                    "summary": "Correct a balance by hand, with a reason (audited)",
                    "requestBody": _body("AdjustIn"),
                    "responses": {"200": _response("Adjusted", "AdjustOut"), **_ERRORS},
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
