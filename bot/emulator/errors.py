"""The error a Bot API call fails with, shaped exactly like Telegram's error responses."""

from __future__ import annotations

from typing import Any


class BotAPIError(Exception):
    """A refusal the emulator answers with instead of a result.

    ``error_code`` doubles as the HTTP status, as it does on api.telegram.org.
    """

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def to_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


def bad_request(detail: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> BotAPIError:
    return BotAPIError(403, f"Forbidden: {detail}")


def conflict(detail: str) -> BotAPIError:
    return BotAPIError(409, f"Conflict: {detail}")


def too_many_requests(retry_after: int) -> BotAPIError:
    return BotAPIError(
        429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
    )


def unauthorized() -> BotAPIError:
    return BotAPIError(401, "Unauthorized")


def not_found() -> BotAPIError:
    return BotAPIError(404, "Not Found")


def chat_not_found() -> BotAPIError:
    return bad_request("chat not found")


class ScenarioError(AssertionError):
    """A test asked an emulated user for something impossible on Telegram.

    For example pressing an inline button that the message does not have. It derives from
    AssertionError so pytest reports it as a failed expectation rather than a crash.
    """
