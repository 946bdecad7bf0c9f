"""Files the emulator knows: uploads, URLs and test-made user files, with Telegram-like ids."""

from __future__ import annotations

import itertools
import mimetypes
import secrets
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from .errors import BotAPIError, bad_request
from .schema import UploadedFile

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

# Real file ids start with a type-specific prefix; keeping that makes logs look familiar.
_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}
_FOLDER = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "audio": "music",
    "voice": "voice",
    "animation": "animations",
    "sticker": "stickers",
    "video_note": "video_notes",
}
_DEFAULT_MIME = {
    "photo": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "animation": "video/mp4",
    "sticker": "image/webp",
    "video_note": "video/mp4",
}
_THUMBNAIL_SIDE = 90


def _tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


TINY_PNG = _tiny_png()


def probe_image(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG/JPEG/GIF/WebP/BMP image, or None when it is not one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        return _probe_jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return _probe_webp(data)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    return None


def _probe_jpeg(data: bytes) -> tuple[int, int] | None:
    position = 2
    start_of_frame = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker in start_of_frame:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return int(width), int(height)
        (segment_length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + int(segment_length)
    return None


def _probe_webp(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8 ":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
        return width, height
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


@dataclass(slots=True)
class FileRecord:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    file_size: int | None
    file_path: str | None
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    source_url: str | None = None
    photo_sizes: list[dict[str, Any]] | None = None

    def base(self) -> dict[str, Any]:
        body: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_size is not None:
            body["file_size"] = self.file_size
        return body

    def as_file(self) -> dict[str, Any]:
        """The Bot API ``File`` object returned by getFile."""
        body = self.base()
        if self.file_path is not None:
            body["file_path"] = self.file_path
        return body


class FileRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, FileRecord] = {}
        self._by_path: dict[str, FileRecord] = {}
        self._counter = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, file_id: str) -> FileRecord | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> FileRecord | None:
        return self._by_path.get(file_path)

    def resolve(self, value: Any, kind: str) -> FileRecord:
        """Turn an InputFile-or-String parameter into the file it designates."""
        if isinstance(value, UploadedFile):
            return self.add_upload(kind, value)
        if isinstance(value, str):
            if value.startswith(("http://", "https://")):
                return self._add(kind, None, None, None, source_url=value)
            record = self._by_id.get(value)
            if record is not None:
                return record
        raise bad_request("wrong file identifier/HTTP URL specified")

    def add_upload(self, kind: str, upload: UploadedFile) -> FileRecord:
        if not upload.data:
            raise bad_request("file must be non-empty")
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise BotAPIError(413, "Request Entity Too Large")
        size: tuple[int, int] | None = None
        if kind == "photo":
            size = probe_image(upload.data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            width, height = size
            if (
                width <= 0
                or height <= 0
                or width + height > 10000
                or (max(width, height) / min(width, height) > 20)
            ):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
        mime = upload.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(upload.filename)[0] or _DEFAULT_MIME.get(kind, mime)
        return self._add(kind, upload.data, upload.filename, mime, size=size)

    def add_bytes(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int | None = None,
    ) -> FileRecord:
        """A file a test user sends; photos are probed for their dimensions."""
        size = probe_image(data) if kind in ("photo", "sticker") else None
        mime = mime_type or (mimetypes.guess_type(file_name)[0] if file_name else None)
        record = self._add(kind, data, file_name, mime or _DEFAULT_MIME.get(kind), size=size)
        record.duration = duration
        return record

    def _add(
        self,
        kind: str,
        data: bytes | None,
        file_name: str | None,
        mime_type: str | None,
        *,
        size: tuple[int, int] | None = None,
        source_url: str | None = None,
    ) -> FileRecord:
        number = next(self._counter)
        extension = _extension(file_name, mime_type, kind)
        file_path = f"{_FOLDER.get(kind, 'documents')}/file_{number}{extension}"
        record = FileRecord(
            file_id=f"{_ID_PREFIX.get(kind, _ID_PREFIX['document'])}{number:x}"
            f"{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{number:x}{secrets.token_urlsafe(6)}",
            kind=kind,
            data=data,
            file_size=len(data) if data is not None else None,
            file_path=file_path,
            file_name=file_name,
            mime_type=mime_type,
            source_url=source_url,
        )
        if size is not None:
            record.width, record.height = size
        self._by_id[record.file_id] = record
        self._by_path[file_path] = record
        if kind == "photo":
            record.photo_sizes = self._photo_sizes(record)
        return record

    def _photo_sizes(self, record: FileRecord) -> list[dict[str, Any]]:
        width, height = record.width or 1280, record.height or 960
        full = {**record.base(), "width": width, "height": height}
        if max(width, height) <= _THUMBNAIL_SIDE:
            return [full]
        scale = _THUMBNAIL_SIDE / max(width, height)
        number = next(self._counter)
        thumbnail = FileRecord(
            file_id=f"{_ID_PREFIX['photo']}{number:x}{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{number:x}{secrets.token_urlsafe(6)}",
            kind="photo",
            data=record.data,
            file_size=record.file_size,
            file_path=f"photos/file_{number}.jpg",
            mime_type=record.mime_type,
            width=max(1, round(width * scale)),
            height=max(1, round(height * scale)),
        )
        self._by_id[thumbnail.file_id] = thumbnail
        assert thumbnail.file_path is not None
        self._by_path[thumbnail.file_path] = thumbnail
        small = {**thumbnail.base(), "width": thumbnail.width, "height": thumbnail.height}
        thumbnail.photo_sizes = [small]
        return [small, full]


def _extension(file_name: str | None, mime_type: str | None, kind: str) -> str:
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1].lower()
    if mime_type:
        guessed = mimetypes.guess_extension(mime_type)
        if guessed:
            return guessed
    return {"photo": ".jpg", "voice": ".oga", "sticker": ".webp"}.get(kind, "")


def media_object(kind: str, record: FileRecord, params: dict[str, Any]) -> Any:
    """The Message field for a file of ``kind`` (``photo`` is a list of sizes)."""
    if kind == "photo":
        return record.photo_sizes or [
            {**record.base(), "width": record.width or 1280, "height": record.height or 960}
        ]
    body = record.base()
    if kind in ("document", "audio", "video", "animation") and record.file_name:
        body["file_name"] = record.file_name
    if kind != "sticker" and record.mime_type:
        body["mime_type"] = record.mime_type
    duration = int(params.get("duration") or record.duration or 0)
    if kind in ("video", "animation"):
        body["width"] = int(params.get("width") or record.width or 640)
        body["height"] = int(params.get("height") or record.height or 360)
        body["duration"] = duration
    elif kind in ("audio", "voice"):
        body["duration"] = duration
        if kind == "audio":
            for key in ("performer", "title"):
                if params.get(key):
                    body[key] = params[key]
    elif kind == "video_note":
        body["length"] = int(params.get("length") or 240)
        body["duration"] = duration
    elif kind == "sticker":
        body.update(
            type="regular",
            width=record.width or 512,
            height=record.height or 512,
            is_animated=False,
            is_video=False,
        )
        if params.get("emoji"):
            body["emoji"] = params["emoji"]
    return body
