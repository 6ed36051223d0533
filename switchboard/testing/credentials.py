"""Any credentials at all: what `mock_taskrouter` needs for code that builds its own clients
with whatever it is configured with.

Each request's Basic credentials are made valid before the app checks them: an Account SID
is that account, created on first use and its token set to the one the request carries; any
other username (an API key SID, a placeholder) stands for an account derived from it, so two
sets of credentials never see each other's workspaces. It runs on the loop that serves the
app, so an account is created between requests, never inside another's transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")

RawHeaders = list[tuple[bytes, bytes]]


def account_for(username: str) -> str:
    """The account a username stands for: itself when it is an Account SID."""
    if _ACCOUNT_SID.match(username):
        return username
    return "AC" + hashlib.sha256(username.encode()).hexdigest()[:32]


class AnyCredentials:
    def __init__(self, ensure_account: Callable[[str, str], None]) -> None:
        self._ensure_account = ensure_account
        self._tokens: dict[str, str] = {}  # the token each account was last given

    def admit(self, headers: RawHeaders) -> RawHeaders:
        """The request's headers with its credentials made valid (an Authorization naming
        the derived account when the username is not an Account SID)."""
        for i, (name, value) in enumerate(headers):
            if name != b"authorization" or not value.startswith(b"Basic "):
                continue
            try:
                decoded = base64.b64decode(value[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return headers  # the app answers 401, as it would anyway
            username, _, password = decoded.partition(":")
            sid = account_for(username)
            if self._tokens.get(sid) != password:
                self._ensure_account(sid, password)
                self._tokens[sid] = password
            if sid == username:
                return headers
            token = base64.b64encode(f"{sid}:{password}".encode())
            return [*headers[:i], (name, b"Basic " + token), *headers[i + 1 :]]
        return headers
