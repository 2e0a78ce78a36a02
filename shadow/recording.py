"""Recordings: mirrored requests as JSON lines, redacted, for replay when live mirroring is off.

One line per request: `{"at", "method", "target", "headers", "body", "body_kind"}`. The target,
headers and body pass through the same `Redactor` as stored exchanges, so a recording never holds
a personal value; a replayed request carries the tokens instead (a search by a person's name then
finds nobody, which is the price of a recording that is safe to keep). Form bodies
(`application/x-www-form-urlencoded`) are redacted field by field, like a query string, and kept
as text. Other bodies (binary, multipart, plain text, XML) are not recorded (`body_kind:
"omitted"`): without field names only patterns could find a person in them, and a name matches
none. Replay leaves such requests out. Written by the pipeline's writer thread, read by replay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from shadow import codec
from shadow.errors import DecodeError, ShadowError
from shadow.message import Request
from shadow.redact import Redactor


def line_of(request: Request, redactor: Redactor, at: datetime) -> str:
    """The JSON line recording `request`, redacted."""
    content_type = request.header("content-type")
    # The request's personal values are hidden in every part of it, not only where they stand.
    known = redactor.request_strings(request)
    body: Any = None
    kind = "none"
    if request.body:
        if codec.media_type(content_type) == "multipart/form-data":
            # Its parts are named fields and files that the redactor cannot tell apart by name
            # (a `name` part, an uploaded letter): patterns alone would let a person through.
            kind = "omitted"
        elif codec.is_form_type(content_type) and _is_text(request.body):
            # The patterns alone miss a name (`name=Anna+Kowalska`) and an encoded e-mail address
            # (`anna%40example.org`): only the decoded fields show what is personal.
            body = redactor.redact_form(request.body.decode("utf-8"), known)
            kind = "text"
        elif codec.is_json_type(content_type) or codec.looks_like_json(request.body):
            try:
                body = redactor.redact_json(codec.parse_json(request.body, precise=False), known)
                kind = "json"
            except (DecodeError, RecursionError):  # unreadable, or too deep to walk
                kind = "omitted"
        else:
            # Plain text, XML, a GraphQL document sent as application/graphql: no field names
            # to go by, and patterns alone let a name through (`<fullname>Anna Kowalska<`).
            kind = "omitted"
    record = {
        "at": at.isoformat(),
        "method": request.method,
        "target": redactor.redact_target(request.target, known),
        "headers": [list(pair) for pair in redactor.redact_headers(request.headers, known)],
        "body": body,
        "body_kind": kind,
    }
    line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"` in a body): escaped, still JSON
        line = json.dumps(record, ensure_ascii=True, default=str, separators=(",", ":"))
    return line


def _is_text(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RecordingError(ShadowError):
    """A recording line cannot be read; the message names the file and line."""


def read(path: Path, *, without_body: list[int] | None = None) -> Iterator[Request]:
    """The requests of a recording, in order; raise `RecordingError` on a malformed line.

    A request whose body was not recorded (binary, multipart) cannot be replayed as it was
    sent: without its body it would be another request, and a write at that. It is left out,
    and its line number goes to `without_body`."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
                if record.get("body_kind") == "omitted":
                    if without_body is not None:
                        without_body.append(number)
                    continue
                yield _request_of(record)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                # ValueError covers bytes that are not UTF-8, and a line break in a header.
                raise RecordingError(
                    f"{path}, line {number}: not a recorded request ({exc}). Recordings are "
                    "written by the shadow proxy (shadow.record_file); do not edit them by hand."
                ) from None


def _request_of(record: dict[str, Any]) -> Request:
    kind = record.get("body_kind", "none")
    headers = [(str(k), str(v)) for k, v in record["headers"]]
    body = b""
    if kind == "json":
        body = json.dumps(record["body"], ensure_ascii=False, separators=(",", ":")).encode()
    elif kind == "text":
        body = str(record["body"]).encode()
    if kind in ("json", "text"):
        # Tokens are longer or shorter than what they replaced: the recorded length is stale.
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    request = Request.of(str(record["method"]), str(record["target"]), headers, body)
    if request.splits_in_two():  # refused here too, so that replay stops before sending anything
        raise ValueError("a line break or NUL in the method or a header")
    return request
