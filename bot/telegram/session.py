"""The HTTP session every Bot instance talks to Telegram through (TELEGRAM_API_URL)."""

from __future__ import annotations

import json
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout

from bot.config import Settings

_JSON_HEADERS = {"Content-Type": "application/json"}


class JsonBodySession(AiohttpSession):
    """Sends a call without files as one JSON body (the Bot API takes JSON as well as
    forms). aiogram builds every call as a form: each nested value JSON-encoded on its own,
    then the whole form URL-encoded through a multipart writer it does not use (a fresh
    uuid4 boundary each time), which was a tenth of the event loop's time per update.
    Calls that upload files go the form way, as before."""

    def build_json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue
            body[key] = prepared
        if files:
            return None
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,
    ) -> TelegramType:
        body = self.build_json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=body,
                headers=_JSON_HEADERS,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as response:
                raw_result = await response.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            raise TelegramNetworkError(
                method=method, message=f"{type(error).__name__}: {error}"
            ) from error
        result = self.check_response(
            bot=bot, method=method, status_code=response.status, content=raw_result
        )
        return cast(TelegramType, result.result)

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        _hold_response_type(method.__returning__)
        return super().check_response(bot, method, status_code, content)


# aiogram parses every answer as Response[<the method's result type>]; pydantic keeps the
# classes it builds for these in a weak cache, and nothing else holds them, so a garbage
# collection drops them and the next answer builds one again: ~4 ms, 19 times in 2,500
# updates (cProfile of the in-process burst). Held here, each is built once.
_RESPONSE_TYPES: dict[Any, type[Response[Any]]] = {}


def _hold_response_type(returning: Any) -> None:
    if returning not in _RESPONSE_TYPES:
        _RESPONSE_TYPES[returning] = Response[returning]


def telegram_session(settings: Settings) -> AiohttpSession:
    return JsonBodySession(api=TelegramAPIServer.from_base(settings.telegram.api_url))
