"""Per-request context: the services of the app, the authenticated account and the base URL."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request

from switchboard.api.committed import shows_committed_only
from switchboard.api.pagination import Pager
from switchboard.api.rate_limits import RateLimits
from switchboard.config import Settings
from switchboard.engine import Engine
from switchboard.errors import Unauthorized, not_found
from switchboard.models import Clock, Prefix, is_sid
from switchboard.storage import Store

T = TypeVar("T")

_AUTH_CACHE_LIMIT = 10_000
# How long a successful credential check is trusted before the database is asked again. Every
# process keeps its own cache, so a token changed or an API key deleted through any process
# (or the CLI) is refused everywhere at most this long afterwards; within it, a client making
# many calls costs one lookup per header, not one per request.
CREDENTIAL_TTL_SECONDS = 2.0


class CredentialCache:
    """Authorization header → account SID, each entry trusted for `ttl` seconds of `now`
    (monotonic time, not the engine's clock: a manual clock must not freeze credentials).
    Failures are never kept, so a newly valid credential works at once."""

    def __init__(
        self, ttl: float = CREDENTIAL_TTL_SECONDS, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.now = now
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, header: str) -> str | None:
        entry = self._entries.get(header)
        if entry is None:
            return None
        account_sid, expires = entry
        if self.now() >= expires:
            del self._entries[header]
            return None
        return account_sid

    def clear(self) -> None:
        """Forget every entry (the test kit, when it moves an API key to another account)."""
        self._entries.clear()

    def put(self, header: str, account_sid: str) -> None:
        if len(self._entries) >= _AUTH_CACHE_LIMIT:
            self._entries.clear()
        self._entries[header] = (account_sid, self.now() + self.ttl)


class KnownWorkspaces:
    """(account SID, workspace SID) pairs found to exist, each trusted for `ttl` seconds of
    `now`, as credentials are (CredentialCache): a write checks the workspace again in its
    own opening, so only a read may see a workspace another process deleted, for at most
    this long; one deleted through this process is forgotten at once. Used where a check
    costs a round trip to another host (PostgreSQL); misses are never kept."""

    def __init__(
        self, ttl: float = CREDENTIAL_TTL_SECONDS, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.now = now
        self._entries: dict[tuple[str, str], float] = {}

    def known(self, account_sid: str, workspace_sid: str) -> bool:
        expires = self._entries.get((account_sid, workspace_sid))
        return expires is not None and self.now() < expires

    def put(self, account_sid: str, workspace_sid: str) -> None:
        if len(self._entries) >= _AUTH_CACHE_LIMIT:
            self._entries.clear()
        self._entries[(account_sid, workspace_sid)] = self.now() + self.ttl

    def forget(self, workspace_sid: str) -> None:
        for key in [k for k in list(self._entries) if k[1] == workspace_sid]:
            del self._entries[key]


@dataclass
class Services:
    """Everything handlers share, built once by `create_app`."""

    settings: Settings
    store: Store
    engine: Engine
    clock: Clock
    pager: Pager
    # Successful credential checks, trusted for a few seconds (see CredentialCache).
    auth_cache: CredentialCache = field(default_factory=CredentialCache)
    # Workspaces found to be the caller's, trusted for a few seconds (see KnownWorkspaces).
    known_workspaces: KnownWorkspaces = field(default_factory=KnownWorkspaces)
    # Twilio's rate limits; none unless the server runs with --limits twilio.
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # Whether this process runs the deadline tick (set by the app's lifespan).
    is_tick_leader: Callable[[], bool] = lambda: False


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated API request."""

    request: Request
    services: Services
    account_sid: str
    base: str

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def store(self) -> Store:
        return self.services.store

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def workspace_sid(self) -> str:
        """The path's workspace, which must exist and belong to the caller (else 404)."""
        params = self.request.path_params
        sid: str = params.get("workspace_sid") or params["sid"]
        if not is_sid(sid, Prefix.WORKSPACE):
            raise not_found(f"/Workspaces/{sid}")
        known = self.services.known_workspaces
        if self.store.reads_off_loop and known.known(self.account_sid, sid):
            return sid
        if not self.store.workspace_exists(sid, self.account_sid):
            raise not_found(f"/Workspaces/{sid}")
        known.put(self.account_sid, sid)
        return sid

    async def read(self, read: Callable[..., T], *args: Any) -> T:
        """A Store read, off the event loop where the database is on the network."""
        return await self.store.read(read, *args)

    async def read_answer(self, read: Callable[..., T], *args: Any) -> T:
        """`read`, for an answer made of what it returns and nothing the loop holds: on
        PostgreSQL it ran on the read pool, which sees committed rows only, so the answer
        does not wait for the loop's open group of writes (api/committed.py)."""
        found = await self.store.read(read, *args)
        if self.store.reads_off_loop:
            shows_committed_only(self.request.scope)
        return found

    async def index_as_of(self, workspace_sid: str) -> AbstractContextManager[None]:
        """For a handler reading the workspace's routing index (`engine.index` and what
        calls it): on PostgreSQL the workspace's change number is read on the read pool, and
        inside the block returned the index catches up to it (`Engine.as_of`), so an index
        already current costs the event loop no round trip. One behind (another process
        wrote) still reads the changes on the loop."""
        if not self.store.reads_off_loop:
            return nullcontext()
        seq = await self.read(self.store.workspace_change_seq, workspace_sid)
        return nullcontext() if seq is None else self.engine.as_of(workspace_sid, seq)

    async def before_write(self, workspace_sid: str) -> None:
        """Right before an engine write: on PostgreSQL, wait for the workspace's group of
        writes to open, so the write costs the event loop no round trip (Store.prepare_write).
        Nothing may be awaited between this and the write."""
        await self.store.prepare_write(workspace_sid)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def base_url(request: Request, services: Services) -> str:
    if services.settings.base_url:
        return services.settings.base_url.rstrip("/")
    host = request.headers.get("host") or f"{services.settings.host}:{services.settings.port}"
    # The scope's scheme: building request.url parses the whole URL for one field.
    return f"{request.scope.get('scheme', 'http')}://{host}"


def authenticate(request: Request, services: Services) -> str:
    """The account SID of the request's HTTP Basic credentials, or a 401 (code 20003)."""
    header = request.headers.get("authorization", "")
    cached = services.auth_cache.get(header)
    if cached is not None:
        return cached
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized(
            "Authenticate: HTTP Basic credentials (Account SID and auth token) are required"
        )
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(
            "Authenticate: the Authorization header is not valid Basic credentials"
        ) from None
    account_sid = services.engine.accounts.authenticate(username, password)
    if account_sid is None:
        raise Unauthorized("Authenticate: the credentials are not valid")
    services.auth_cache.put(header, account_sid)
    return account_sid


def call(request: Request) -> Call:
    services = services_of(request)
    account_sid = authenticate(request, services)
    return Call(request, services, account_sid, base_url(request, services))
