"""Twilio-style errors: each carries Twilio's code and HTTP status; one place renders them."""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioError(Exception):
    """An error the API reports as `{code, message, more_info, status}`."""

    status: int = 400
    code: int = 20001

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }
        if self.details:
            body["details"] = self.details
        return body


class InvalidParameter(TwilioError):
    """A request parameter is missing, malformed or out of range (400, 20001)."""

    status = 400
    code = 20001


class Unauthorized(TwilioError):
    """Missing or wrong credentials (401, 20003)."""

    status = 401
    code = 20003


class NotFound(TwilioError):
    """The resource does not exist for this caller (404, 20404)."""

    status = 404
    code = 20404


class MethodNotAllowed(TwilioError):
    status = 405
    code = 20004


class Conflict(TwilioError):
    """The change conflicts with current state, e.g. a duplicate unique name (409, 20409)."""

    status = 409
    code = 20409


class PreconditionFailed(TwilioError):
    """If-Match did not match the resource's current version (412, 20412)."""

    status = 412
    code = 20412


class PayloadTooLarge(TwilioError):
    """The request body is over the server's limit (413). Twilio documents no code for it;
    20413 follows the pattern of 20404, 20409 and 20429 (code = 20000 + status)."""

    status = 413
    code = 20413


class TooManyRequests(TwilioError):
    status = 429
    code = 20429


class InternalError(TwilioError):
    status = 500
    code = 20500


def not_found(path: str) -> NotFound:
    """Twilio's wording for a missing resource, given its path below /v1."""
    return NotFound(f"The requested resource {path} was not found")


class DatabaseUnavailable(TwilioError):
    """The database cannot be reached or cannot take the write now: a lost PostgreSQL
    connection, a locked or unwritable SQLite file (503, 20503, Twilio's "service
    unavailable"). Nothing of the failed request was kept; the same request may be retried
    after `retry_after` seconds, by when a lost connection has usually been replaced."""

    status = 503
    code = 20503
    retry_after = 1
