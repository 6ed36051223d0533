"""Per-request context: the services of the app, the authenticated account and the base URL."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from switchboard.api.pagination import Pager
from switchboard.api.rate_limits import RateLimits
from switchboard.config import Settings
from switchboard.engine import Engine
from switchboard.errors import Unauthorized, not_found
from switchboard.models import Clock, Prefix, is_sid
from switchboard.storage import Store

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
        if not is_sid(sid, Prefix.WORKSPACE) or not self.store.workspace_exists(
            sid, self.account_sid
        ):
            raise not_found(f"/Workspaces/{sid}")
        return sid


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
