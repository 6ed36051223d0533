"""An unexpected exception becomes a logged 500 in Twilio's error shape, and the connection
stays open.

Starlette's own last-resort handler sends its 500 and then re-raises, so that servers can log
the error; uvicorn, seeing an exception after the response started, closes the connection, and a
pooled client's next request on it fails with "connection reset by peer". Answered here, the
exception ends with the 500: it is logged once, and nothing propagates to the server. Only an
exception after the response started must still reach the server: half a response cannot be
mended, and only closing the connection ends it.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from switchboard.errors import InternalError

log = logging.getLogger("switchboard")


def unexpected(scope: MutableMapping[str, Any]) -> InternalError:
    """Log the exception being handled (call it in an `except` block) and give the error
    that answers it."""
    log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
    return InternalError("An internal error occurred; it has been logged")
