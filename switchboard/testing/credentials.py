"""Any credentials at all: what `mock_taskrouter` needs for code that builds its own clients
with whatever it is configured with.

Each request's Basic credentials are made valid before the app checks them:

- An Account SID is that account, created on first use and its token set to the one the
  request carries.
- An API key SID (`SK…`) used by a client that names its account
  (`Client(key_sid, key_secret, account_sid)`) is a key of that account, as at Twilio: the
  mock tells which account in the `ACTING_ACCOUNT_HEADER` of the request, and the key is
  stored with the secret it carries, so the app authenticates it as any other key (and
  checks Access Tokens it signs).
- Any other username (a key without an account, a placeholder) stands for an account
  derived from it, so two sets of credentials never see each other's workspaces.

It runs on the loop that serves the app, so an account or key is created between requests,
never inside another's transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
# The account an SDK client acts for (its `account_sid`), added by the mock. Taken out of
# the request before the app sees it, and heeded only with any credentials.
ACTING_ACCOUNT_HEADER = "x-switchboard-acting-account"
_ACTING = ACTING_ACCOUNT_HEADER.encode()

RawHeaders = list[tuple[bytes, bytes]]


def account_for(username: str) -> str:
    """The account a username stands for: itself when it is an Account SID."""
    if _ACCOUNT_SID.match(username):
        return username
    return "AC" + hashlib.sha256(username.encode()).hexdigest()[:32]


class AnyCredentials:
    def __init__(
        self,
        ensure_account: Callable[[str, str], None],
        ensure_api_key: Callable[[str, str, str], None],
    ) -> None:
        self._ensure_account = ensure_account
        self._ensure_api_key = ensure_api_key
        self._tokens: dict[str, str] = {}  # the token each account was last given
        self._keys: dict[str, tuple[str, str]] = {}  # key SID → (account, secret) last given

    def admit(self, headers: RawHeaders) -> RawHeaders:
        """The request's headers with its credentials made valid (an Authorization naming
        the derived account when the username stands for one), the acting account's header
        taken out."""
        acting, headers = _take_acting_account(headers)
        for i, (name, value) in enumerate(headers):
            if name != b"authorization" or not value.startswith(b"Basic "):
                continue
            try:
                decoded = base64.b64decode(value[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return headers  # the app answers 401, as it would anyway
            username, _, password = decoded.partition(":")
            if acting is not None and _API_KEY_SID.match(username):
                self._admit_key(username, acting, password)
                return headers
            sid = account_for(username)
            if self._tokens.get(sid) != password:
                self._ensure_account(sid, password)
                self._tokens[sid] = password
            if sid == username:
                return headers
            token = base64.b64encode(f"{sid}:{password}".encode())
            return [*headers[:i], (name, b"Basic " + token), *headers[i + 1 :]]
        return headers

    def _admit_key(self, key_sid: str, account_sid: str, secret: str) -> None:
        if self._keys.get(key_sid) != (account_sid, secret):
            self._ensure_api_key(key_sid, account_sid, secret)
            self._keys[key_sid] = (account_sid, secret)


def _take_acting_account(headers: RawHeaders) -> tuple[str | None, RawHeaders]:
    """The acting account the mock named (when it is an Account SID), and the headers
    without it."""
    values = [value for name, value in headers if name == _ACTING]
    if not values:
        return None, headers
    text = values[0].decode("latin-1")
    kept = [(name, value) for name, value in headers if name != _ACTING]
    return (text if _ACCOUNT_SID.match(text) else None), kept
