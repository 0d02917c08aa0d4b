"""Reading a JSON request body safely: content type, gzip, size limits, strict parsing."""

from __future__ import annotations

import zlib

import orjson
from flask import Request, g

from ingest_api.errors import ApiError

MAX_BODY_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the request body is over the limit of {limit} bytes")


def raw_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 past `limit` bytes, with or without a Content-Length."""
    if "raw_body" in g:
        return g.raw_body
    length = request.content_length
    if length is not None:
        if length > limit:
            raise _too_large(limit)
        data = request.get_data(cache=False)
    elif request.environ.get("wsgi.input_terminated"):
        # chunked: werkzeug stops silently at the limit, so read one byte past it ourselves to tell
        stream, chunks, total = request.environ["wsgi.input"], [], 0
        while chunk := stream.read(min(_READ_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
        data = b"".join(chunks)
    else:
        data = b""
    g.raw_body = data
    return data


def _decompress(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise ApiError(400, "invalid_gzip", "the body is not valid gzip") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(413, "payload_too_large", f"the decompressed body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise ApiError(400, "invalid_gzip", "the gzip stream is truncated")
    return out


def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> tuple[object, bytes]:
    """The parsed body and its (decompressed) bytes, or an ApiError with the right status."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(415, "unsupported_encoding", "Content-Encoding must be gzip or absent")
    data = raw_body(request, limit)
    if encoding == "gzip":
        data = _decompress(data, limit)
    return parse_json(data), data


def parse_json(data: bytes | str, what: str = "body") -> object:
    """`data` parsed strictly (orjson: no NaN, no duplicate-key tricks beyond the last), or a 400 ApiError."""
    if not data.strip():
        raise ApiError(400, f"empty_{what}", f"the {what} is empty; send a JSON event or array of events")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "malformed_json", f"the {what} is not valid JSON: {error}") from None
