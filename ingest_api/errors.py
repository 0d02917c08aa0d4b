"""Every error the API answers is JSON: {"error": CODE, "message": TEXT}, registered in one place."""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ingest_api.error_events import install_error_events
from ingest_api.pool import UNAVAILABLE_ERRORS, DatabaseUnavailable
from monkeytown.database import first_line

RETRY_AFTER_SECONDS = 2
log = logging.getLogger("monkeytown.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "unprocessable_event",
    426: "upgrade_required",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(status: int, code: str, message: str, headers: dict | None = None, **extra) -> Response:
    return json_response({"error": code, "message": message, **extra}, status, headers)


def _protocol_headers(error: HTTPException) -> dict[str, str]:
    """The headers the status requires (Allow on a 405, Retry-After, WWW-Authenticate), without werkzeug's
    HTML Content-Type: the body is JSON."""
    return {name: value for name, value in error.get_headers() if name.lower() != "content-type"}


def _method_not_allowed_message(error: MethodNotAllowed) -> str:
    allowed = ", ".join(sorted(error.valid_methods or ()))
    return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"


def register_error_handlers(app: Flask) -> None:
    """The JSON error handlers; every 5xx answered is also recorded as an `error` system event (error_events.py),
    with the exception kept on `g.exception` by the handlers below."""
    install_error_events(app)

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.headers, **error.extra)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        description = error.description or error.name
        if status == 413:
            description = f"the request body is over the limit of {app.config['MAX_CONTENT_LENGTH']} bytes"
        if isinstance(error, MethodNotAllowed):
            description = _method_not_allowed_message(error)
        return error_response(status, _CODES.get(status, "http_error"), description, _protocol_headers(error))

    def _unavailable(error: Exception):
        g.exception = error
        log.warning("database unavailable: %s", first_line(error))
        return error_response(
            503, "database_unavailable", "the database is unavailable; retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.register_error_handler(DatabaseUnavailable, _unavailable)
    for error_type in UNAVAILABLE_ERRORS:
        app.register_error_handler(error_type, _unavailable)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        g.exception = error
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
