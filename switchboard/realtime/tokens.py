"""Twilio Access Tokens: what the worker SDK presents, checked against the stored API keys.

A token is an HS256 JWT (`cty: twilio-fpa;v=1`) whose issuer is an API key SID, whose subject
is the account SID and whose `grants.task_router` names a workspace, a worker and a role. It
is signed with the key's secret, which the Store keeps sealed (storage/secret_box.py). Expiry
is read against the wall clock, not the engine's: tokens are minted by code that knows only
real time, and a manual clock must not make every token expired or eternal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from switchboard.models import Prefix, is_sid
from switchboard.storage import Store

CONTENT_TYPE = "twilio-fpa;v=1"
ROLES = ("worker", "supervisor", "admin")
# twilio-node may sign with any of these; the Python helper uses HS256.
_ALGORITHMS = ("HS256", "HS384", "HS512")
# How long a signing key found is used without reading it again (a deleted key still signs
# for this long; tokens already verified are remembered until they expire regardless).
KEY_MEMORY_S = 5.0
# Tolerance for clocks that differ a little between the minting machine and this one.
_LEEWAY_S = 30


class TokenRefused(Exception):
    """The token cannot be used; the message says why, for the person holding it."""


@dataclass(frozen=True)
class Grant:
    """What a verified token lets its holder do."""

    account_sid: str
    workspace_sid: str
    worker_sid: str | None
    role: str
    key_sid: str
    expires: int  # epoch seconds
    identity: str | None = None

    def lifetime_ms(self, now_s: float | None = None) -> int:
        """What is left of the token's life, as the SDK's `init` message reports it."""
        now = time.time() if now_s is None else now_s
        return max(int((self.expires - now) * 1000), 0)


# An API key's account and its secret (None when not kept), or None for no such key.
SigningKey = tuple[str, str | None]
KeyLookup = Callable[[str], SigningKey | None]


def stored_key(store: Store) -> KeyLookup:
    def lookup(key_sid: str) -> SigningKey | None:
        key = store.get_api_key(key_sid)
        return None if key is None else (key.account_sid, store.api_key_secret(key_sid))

    return lookup


def verify(token: str, store: Store, keys: KeyLookup | None = None) -> Grant:
    """The grant of a valid token, or TokenRefused saying what is wrong with it; `keys`
    finds the signing key (by default in the Store)."""
    header, claims = _unverified(token)
    if header.get("cty") != CONTENT_TYPE:
        raise TokenRefused(f"the token is not a Twilio Access Token (cty is not {CONTENT_TYPE})")
    algorithm = header.get("alg")
    if algorithm not in _ALGORITHMS:
        raise TokenRefused(f"the token's algorithm {algorithm!r} is not one of {_ALGORITHMS}")
    key_sid, account_sid = claims.get("iss"), claims.get("sub")
    if not isinstance(key_sid, str) or not is_sid(key_sid, Prefix.API_KEY):
        raise TokenRefused("the token's issuer (iss) is not an API key SID")
    found = (keys or stored_key(store))(key_sid)
    if found is None or found[0] != account_sid:
        raise TokenRefused(f"API key {key_sid} is not in account {account_sid}")
    secret = found[1]
    if secret is None:
        raise TokenRefused(
            f"API key {key_sid} cannot sign tokens: its secret was not kept (a key made before"
            " tokens were supported) or was sealed under another SWITCHBOARD_SECRET_KEY;"
            " create a new key"
        )
    try:
        verified = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            leeway=_LEEWAY_S,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRefused("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenRefused("the token is not valid yet (nbf)") from None
    except jwt.InvalidSignatureError:
        raise TokenRefused(f"the token's signature does not match API key {key_sid}") from None
    except jwt.InvalidTokenError as error:
        raise TokenRefused(f"the token is not valid: {error}") from None
    return _grant(verified, store, key_sid)


class Verifier:
    """`verify` with its successes remembered until the token expires. The SDK sends its
    token with every gateway call, and each (re)connect makes five calls and a socket: each
    check would otherwise read the key, open its sealed secret and read the workspace and
    worker again. Failures are not remembered (a token may be retried once its key exists)."""

    def __init__(self, store: Store, limit: int = 10_000) -> None:
        self.store, self.limit = store, limit
        # Keyed by a digest of the token, not the token (some 600 bytes, one per agent).
        self._known: dict[bytes, Grant] = {}
        # Signing keys found lately: a thousand agents reconnecting at once bring a thousand
        # new tokens signed by the same key, each of which would read and open it again.
        self._keys: dict[str, tuple[float, SigningKey]] = {}
        self._stored_key = stored_key(store)

    def __call__(self, token: str) -> Grant:
        key = hashlib.blake2b(token.encode(), digest_size=20).digest()
        grant = self._known.get(key)
        if grant is not None:
            if time.time() < grant.expires + _LEEWAY_S:
                return grant
            del self._known[key]
        grant = verify(token, self.store, self._key)
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[key] = grant
        return grant

    def _key(self, key_sid: str) -> SigningKey | None:
        now = time.monotonic()
        remembered = self._keys.get(key_sid)
        if remembered is not None and now - remembered[0] < KEY_MEMORY_S:
            return remembered[1]
        found = self._stored_key(key_sid)
        if found is None:
            self._keys.pop(key_sid, None)
        else:
            self._keys[key_sid] = (now, found)
        return found


def mint(
    key_sid: str,
    secret: str,
    account_sid: str,
    workspace_sid: str,
    worker_sid: str | None,
    *,
    ttl_s: int = 3600,
    role: str = "worker",
    now_s: float | None = None,
) -> str:
    """A token as Twilio's helpers make it (for `switchboard token` and tests of the checks)."""
    now = int(time.time() if now_s is None else now_s)
    grant: dict[str, Any] = {"workspace_sid": workspace_sid, "role": role}
    if worker_sid is not None:
        grant["worker_sid"] = worker_sid
    claims = {
        "jti": f"{key_sid}-{now}",
        "iss": key_sid,
        "sub": account_sid,
        "iat": now,
        "exp": now + ttl_s,
        "grants": {"identity": worker_sid or role, "task_router": grant},
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers={"cty": CONTENT_TYPE})


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        # One parse for both (a reconnect storm verifies a thousand tokens at once).
        decoded = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise TokenRefused("the token is not a JWT") from None
    header, claims = decoded["header"], decoded["payload"]
    if not isinstance(claims, dict):
        raise TokenRefused("the token's claims are not an object")
    return header, claims


def _grant(claims: dict[str, Any], store: Store, key_sid: str) -> Grant:
    grants = claims.get("grants")
    router = grants.get("task_router") if isinstance(grants, dict) else None
    if not isinstance(router, dict):
        raise TokenRefused("the token has no TaskRouter grant (grants.task_router)")
    account_sid = str(claims["sub"])
    workspace_sid, worker_sid = router.get("workspace_sid"), router.get("worker_sid")
    role = router.get("role") or "worker"
    if role not in ROLES:
        raise TokenRefused(f"the token's role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(workspace_sid, str) or not store.workspace_exists(workspace_sid, account_sid):
        raise TokenRefused(f"workspace {workspace_sid} is not in account {account_sid}")
    if worker_sid is not None and (
        not isinstance(worker_sid, str) or store.get_worker(workspace_sid, worker_sid) is None
    ):
        raise TokenRefused(f"worker {worker_sid} is not in workspace {workspace_sid}")
    if role == "worker" and worker_sid is None:
        raise TokenRefused("a worker token must name its worker (grants.task_router.worker_sid)")
    identity = grants.get("identity") if isinstance(grants, dict) else None
    return Grant(
        account_sid,
        workspace_sid,
        worker_sid,
        role,
        key_sid,
        int(claims["exp"]),
        identity if isinstance(identity, str) else None,
    )
