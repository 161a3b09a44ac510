"""``/v1/files``: uploads streamed to disk (never held in memory), list, retrieve, content,
delete — the ``OpenAIFile`` shape of the API description.

A ``purpose=batch`` upload is checked line by line as it arrives, as OpenAI does: every line
must be a JSON object with ``custom_id``, ``method``, ``url`` and ``body``, else a 400.
Batch output files are written here too (``FileStore.create``), ``purpose=batch_output``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from collector.mock_upstream._http import STATE, ApiError, json_response

_CHUNK = 1 << 16
_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
_MAX_BYTES = 200 * 1024 * 1024  # OpenAI's per-file limit for the Batch API


@dataclass(slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    path: Path

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "file", "bytes": self.bytes, "created_at": self.created_at,
            "filename": self.filename, "purpose": self.purpose, "status": "processed",
        }  # fmt: skip


class FileStore:
    """Files on disk in a directory of their own, removed with the app."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="spendscope-mock-files-"))
        self.files: dict[str, StoredFile] = {}
        self._n = 0

    def new_id(self) -> str:
        self._n += 1
        return f"file-{self.root.name[-6:]}{self._n:018x}"

    def create(self, filename: str, purpose: str, lines: Iterable[bytes]) -> StoredFile:
        """A file written from ``lines`` (each ends in a newline), e.g. a batch's output."""
        file_id = self.new_id()
        path = self.root / file_id
        size = 0
        with path.open("wb") as out:
            for line in lines:
                out.write(line)
                size += len(line)
        stored = StoredFile(file_id, filename, purpose, size, int(time.time()), path)
        self.files[file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        found = self.files.get(file_id)
        if found is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return found

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


FILES = web.AppKey("spendscope_mock_files", FileStore)


class _JsonlCheck:
    """Checks a batch input file line by line while it streams past (only a line is held)."""

    def __init__(self) -> None:
        self.partial = b""
        self.line = 0

    def feed(self, chunk: bytes) -> None:
        data = self.partial + chunk
        *whole, self.partial = data.split(b"\n")
        for line in whole:
            self._check(line)

    def close(self) -> None:
        if self.partial.strip():
            self._check(self.partial)
        if self.line == 0:
            raise ApiError(400, "The batch input file is empty.", param="file")

    def _check(self, line: bytes) -> None:
        if not line.strip():
            return
        self.line += 1
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            row = None
        keys = ("custom_id", "method", "url", "body")
        if not isinstance(row, dict) or any(k not in row for k in keys):
            raise ApiError(
                400,
                f"Invalid file format for Batch API: line {self.line} is not a JSON object "
                "with custom_id, method, url and body. Must be .jsonl",
                param="file",
                code="invalid_file_format",
            )


async def upload(request: web.Request) -> web.StreamResponse:
    """``POST /v1/files`` (multipart ``file`` + ``purpose``), streamed to disk."""
    store = request.app[FILES]
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "Expected a multipart/form-data body with 'file' and 'purpose'.")
    reader = await request.multipart()
    purpose: str | None = None
    stored: StoredFile | None = None
    try:
        part = await reader.next()
        while part is not None:
            if isinstance(part, BodyPartReader) and part.name == "purpose":
                purpose = (await part.text()).strip()
            elif isinstance(part, BodyPartReader) and part.name == "file":
                stored = await _save(store, part, purpose)
            else:
                await part.release()
            part = await reader.next()
        if purpose not in _PURPOSES:
            raise ApiError(400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
        if stored is None:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file")
        stored.purpose = purpose
        if purpose == "batch":
            _check_saved(stored.path)
    except ApiError:
        if stored is not None:
            stored.path.unlink(missing_ok=True)
        raise
    store.files[stored.id] = stored
    return json_response(request, stored.wire(), 0)


async def _save(store: FileStore, part: BodyPartReader, purpose: str | None) -> StoredFile:
    """Write the file part to disk a chunk at a time (checked as it goes for batch input)."""
    stored = StoredFile(store.new_id(), part.filename or "upload", "", 0, int(time.time()), Path())
    stored.path = store.root / stored.id
    check = _JsonlCheck() if purpose == "batch" else None
    try:
        with stored.path.open("wb") as out:
            while chunk := await part.read_chunk(_CHUNK):
                stored.bytes += len(chunk)
                if stored.bytes > _MAX_BYTES:
                    raise ApiError(400, "File is too large: the limit is 200 MB.", param="file")
                if check is not None:
                    check.feed(chunk)
                out.write(chunk)
        if check is not None:
            check.close()
    except ApiError:
        stored.path.unlink(missing_ok=True)
        raise
    return stored


def _check_saved(path: Path) -> None:
    """A batch file whose ``purpose`` came after its bytes: checked from disk."""
    check = _JsonlCheck()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            check.feed(chunk)
    check.close()


async def list_files(request: web.Request) -> web.StreamResponse:
    """``GET /v1/files`` (``purpose`` filter, newest first, ``limit``/``after``)."""
    files = sorted(request.app[FILES].files.values(), key=lambda f: f.id, reverse=True)
    purpose = request.query.get("purpose")
    if purpose:
        files = [f for f in files if f.purpose == purpose]
    data, more = page(files, request, lambda f: f.id)
    body = {
        "object": "list", "data": [f.wire() for f in data], "has_more": more,
        "first_id": data[0].id if data else None, "last_id": data[-1].id if data else None,
    }  # fmt: skip
    return json_response(request, body, 0)


def page(items: list[Any], request: web.Request, key: Any) -> tuple[list[Any], bool]:
    """One page of a newest-first list: ``after`` an id, at most ``limit`` (1..10000)."""
    raw = request.query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise ApiError(400, f"Invalid 'limit': {raw!r}; expected an integer 1..10000.")
    after = request.query.get("after")
    if after:
        ids = [key(i) for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(raw)
    return items[:limit], len(items) > limit


async def retrieve_file(request: web.Request) -> web.StreamResponse:
    stored = request.app[FILES].get(request.match_info["file_id"])
    return json_response(request, stored.wire(), 0)


async def file_content(request: web.Request) -> web.StreamResponse:
    """The file's bytes, streamed from disk."""
    stored = request.app[FILES].get(request.match_info["file_id"])
    headers = request.app[STATE].rate_headers(0)
    headers["x-request-id"] = request.app[STATE].request_id()
    return web.FileResponse(stored.path, headers={**headers, "Content-Type": _content_type(stored)})


def _content_type(stored: StoredFile) -> str:
    return "application/jsonl" if stored.filename.endswith(".jsonl") else "application/octet-stream"


async def delete_file(request: web.Request) -> web.StreamResponse:
    store = request.app[FILES]
    stored = store.get(request.match_info["file_id"])
    del store.files[stored.id]
    stored.path.unlink(missing_ok=True)
    return json_response(request, {"id": stored.id, "object": "file", "deleted": True}, 0)
