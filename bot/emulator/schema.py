"""The Bot API method list (methods.json) and the parameter validation Telegram applies to it.

Every call is checked here before any behaviour runs, so a bot cannot pass against the
emulator with a misspelt parameter, a missing required one, or a value of the wrong shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from .errors import bad_request

METHODS_PATH = Path(__file__).with_name("methods.json")

_INTEGER = re.compile(r"[+-]?\d+")


class FieldKind(Enum):
    INTEGER = "Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"
    STRING = "String"
    INTEGER_OR_STRING = "Integer or String"
    INPUT_FILE = "InputFile"
    INPUT_FILE_OR_STRING = "InputFile or String"
    ARRAY = "Array"
    OBJECT = "Object"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A multipart file part as the bot sent it."""

    part_name: str
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes)"


@dataclass(slots=True)
class Call:
    """A Bot API call after validation: canonical method name, coerced params, file parts."""

    method: str
    params: dict[str, Any]
    uploads: dict[str, UploadedFile]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    required: bool
    kind: FieldKind
    # For arrays: the kind of each element (objects, strings, integers...).
    item_kind: FieldKind | None = None
    # InputPollOption arrays historically accept plain strings as well as objects.
    items_may_be_strings: bool = False


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.fields)

    @cached_property
    def required(self) -> tuple[FieldSpec, ...]:
        return tuple(field for field in self.fields.values() if field.required)


# Parameters Telegram still honours although they left the documentation with Bot API 7.0;
# aiogram keeps them on its method models, so a bot may legitimately send them.
_LEGACY_FIELDS: dict[str, tuple[str, str]] = {
    "reply_to_message_id": ("Integer", "reply_parameters"),
    "allow_sending_without_reply": ("Boolean", "reply_parameters"),
    "disable_web_page_preview": ("Boolean", "link_preview_options"),
}

# Telegram names the missing text itself rather than the parameter for these.
_MISSING_MESSAGES: dict[tuple[str, str], str] = {
    ("sendMessage", "text"): "message text is empty",
    ("editMessageText", "text"): "message text is empty",
}


def _kind_of(type_name: str) -> tuple[FieldKind, FieldKind | None]:
    if type_name.startswith("Array of "):
        inner = type_name.removeprefix("Array of ")
        if inner in {"Integer", "String", "Float"}:
            return FieldKind.ARRAY, FieldKind(inner)
        return FieldKind.ARRAY, FieldKind.OBJECT
    for kind in FieldKind:
        if kind.value == type_name:
            return kind, None
    return FieldKind.OBJECT, None


class BotAPISchema:
    """Method specs from methods.json, looked up case-insensitively like Telegram does."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        version = document.get("version", {})
        self.version: str = str(version.get("version", "unknown"))
        self.methods: dict[str, MethodSpec] = {}
        for name, body in document["methods"].items():
            fields: dict[str, FieldSpec] = {}
            for raw in body["fields"]:
                kind, item_kind = _kind_of(raw["type"])
                fields[raw["name"]] = FieldSpec(
                    name=raw["name"],
                    type=raw["type"],
                    required=bool(raw["required"]),
                    kind=kind,
                    item_kind=item_kind,
                    items_may_be_strings=raw["type"] == "Array of InputPollOption",
                )
            for legacy, (type_name, companion) in _LEGACY_FIELDS.items():
                if companion in fields and legacy not in fields:
                    kind, _ = _kind_of(type_name)
                    fields[legacy] = FieldSpec(legacy, type_name, False, kind)
            self.methods[name] = MethodSpec(name=name, fields=fields)
        self._by_lower = {name.lower(): spec for name, spec in self.methods.items()}

    def resolve(self, method: str) -> MethodSpec | None:
        return self._by_lower.get(method.lower())

    @classmethod
    def load(cls, path: Path = METHODS_PATH) -> BotAPISchema:
        with path.open(encoding="utf-8") as handle:
            return cls(json.load(handle))


@cache
def default_schema() -> BotAPISchema:
    return BotAPISchema.load()


_FILE_KINDS = (FieldKind.INPUT_FILE, FieldKind.INPUT_FILE_OR_STRING)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def coerce_params(
    spec: MethodSpec,
    raw: Mapping[str, Any],
    uploads: Mapping[str, UploadedFile],
) -> dict[str, Any]:
    """Validate ``raw`` against ``spec`` and convert values to Python types.

    ``raw`` holds form/query strings or decoded JSON values; ``uploads`` holds multipart file
    parts, which may be referenced as ``attach://name`` or sent under the field's own name.
    """
    fields = spec.fields
    for name in raw:
        if name not in fields:
            raise bad_request(f'unknown parameter "{name}"')
    for field in spec.required:
        if _is_blank(raw.get(field.name)) and not (
            field.kind in _FILE_KINDS and field.name in uploads
        ):
            detail = _MISSING_MESSAGES.get(
                (spec.name, field.name), f'parameter "{field.name}" is required'
            )
            raise bad_request(detail)
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if not _is_blank(value):
            params[name] = _coerce(fields[name], value, uploads)
    # A file may also be uploaded under the parameter's own name instead of attach://.
    for name, upload in uploads.items():
        file_field = fields.get(name)
        if file_field is not None and file_field.kind in _FILE_KINDS and name not in params:
            params[name] = upload
    return params


def _invalid(field: FieldSpec) -> Exception:
    return bad_request(f'invalid value for parameter "{field.name}"')


def _coerce(field: FieldSpec, value: Any, uploads: Mapping[str, UploadedFile]) -> Any:
    kind = field.kind
    if kind in (FieldKind.INPUT_FILE, FieldKind.INPUT_FILE_OR_STRING):
        return _coerce_file(field, value, uploads)
    if kind is FieldKind.ARRAY:
        return _coerce_array(field, _decode_json(field, value, list))
    if kind is FieldKind.OBJECT:
        return _decode_json(field, value, dict)
    return _SCALAR_COERCERS[kind](field, value)


def _coerce_string(field: FieldSpec, value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON bodies may carry numbers where Telegram expects strings; it stringifies them.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _invalid(field)


def _coerce_integer(field: FieldSpec, value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid(field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise _invalid(field)


def _coerce_float(field: FieldSpec, value: Any) -> float:
    if isinstance(value, bool):
        raise _invalid(field)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _invalid(field) from None
    raise _invalid(field)


def _coerce_boolean(field: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    raise _invalid(field)


def _coerce_integer_or_string(field: FieldSpec, value: Any) -> int | str:
    if isinstance(value, bool):
        raise _invalid(field)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value) if _INTEGER.fullmatch(value) else value
    raise _invalid(field)


_SCALAR_COERCERS: dict[FieldKind, Callable[[FieldSpec, Any], Any]] = {
    FieldKind.STRING: _coerce_string,
    FieldKind.INTEGER: _coerce_integer,
    FieldKind.FLOAT: _coerce_float,
    FieldKind.BOOLEAN: _coerce_boolean,
    FieldKind.INTEGER_OR_STRING: _coerce_integer_or_string,
}


def _coerce_file(field: FieldSpec, value: Any, uploads: Mapping[str, UploadedFile]) -> Any:
    if isinstance(value, UploadedFile):
        return value
    if not isinstance(value, str):
        raise _invalid(field)
    if value.startswith("attach://"):
        upload = uploads.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return upload
    if field.kind is FieldKind.INPUT_FILE:
        # Telegram only takes a real upload here (e.g. a webhook certificate).
        raise _invalid(field)
    return value


def _decode_json(field: FieldSpec, value: Any, expected: type) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _invalid(field) from None
    if not isinstance(value, expected):
        raise _invalid(field)
    return value


def _coerce_array(field: FieldSpec, items: list[Any]) -> list[Any]:
    item_kind = field.item_kind
    if item_kind is FieldKind.OBJECT:
        for item in items:
            if isinstance(item, dict) or (field.items_may_be_strings and isinstance(item, str)):
                continue
            raise _invalid(field)
        return items
    if item_kind is FieldKind.INTEGER:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            return items
        raise _invalid(field)
    if item_kind is FieldKind.FLOAT:
        if all(isinstance(item, int | float) and not isinstance(item, bool) for item in items):
            return [float(item) for item in items]
        raise _invalid(field)
    if all(isinstance(item, str) for item in items):
        return items
    raise _invalid(field)
