"""Console sessions: a signed cookie naming the account, and CSRF tokens bound to it.

The cookie holds `account SID . expiry . nonce`, signed with HMAC-SHA256 under a secret kept
in the database (so every process sharing it accepts the same cookies, and a restart does
not sign everyone out). It is HttpOnly (no script reads it) and SameSite=Strict (no other
site's page sends it). Every form that changes something also carries a CSRF token, the HMAC
of the session's nonce: a page of another origin can neither read it nor compute it. The
sign-in form, before any session exists, uses a double-submit cookie instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "switchboard_console"
SIGN_IN_COOKIE = "switchboard_console_sign_in"
PATH = "/switchboard/console"
LIFETIME_MS = 12 * 3600 * 1000


@dataclass(frozen=True)
class Session:
    account_sid: str
    expires_ms: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one secret."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self.secret, text.encode(), hashlib.sha256).digest())

    def issue(self, account_sid: str, now_ms: int) -> tuple[str, Session]:
        """A new session's cookie value, and the session."""
        session = Session(account_sid, now_ms + LIFETIME_MS, secrets.token_urlsafe(16))
        body = f"{session.account_sid}.{session.expires_ms}.{session.nonce}"
        return f"{body}.{self._mac(body)}", session

    def read(self, cookie: str | None, now_ms: int) -> Session | None:
        """The session a cookie carries, or None when it is absent, forged or expired."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4:
            return None
        account_sid, expires, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{account_sid}.{expires}.{nonce}")):
            return None
        if not expires.isdigit() or int(expires) < now_ms:
            return None
        return Session(account_sid, int(expires), nonce)

    def csrf(self, session: Session) -> str:
        """The CSRF token of a session's forms."""
        return self._mac(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))
