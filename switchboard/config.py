"""One frozen Settings object: the only place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

ClockKind = Literal["system", "manual"]
LimitsKind = Literal["local", "twilio"]
LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class Settings:
    """Everything a running server needs to know, with the defaults of a first run."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = "sqlite:///switchboard.db"
    # Public base URL for `url`, `links` and page URLs; None means "from the request's Host".
    base_url: str | None = None
    account_sid: str | None = None
    auth_token: str | None = None
    clock: ClockKind = "system"
    max_workers_per_workspace: int = 15_000
    # Twilio documents attributes as null in lists; real clients read them, so we include them.
    list_attributes: bool = True
    log_level: str = "info"
    # Events older than this are deleted (the Events API and undelivered callbacks alike).
    event_retention_days: int = 30
    # Failures in a row after which an event callback stream skips its head event (recorded
    # in /EventDelivery); 0 retries it for as long as the events are kept.
    event_callback_attempts: int = 12
    # Request bodies larger than this are refused with a 413 before they are read. The largest
    # valid request is a workflow Configuration at Twilio's 1,038,576 bytes, which form
    # encoding may triple; 4 MiB stays above that and far below what stalls the event loop.
    max_body_bytes: int = 4 * 1024 * 1024
    # "twilio" adds what Twilio enforces and local work need not: its rate limits (429) and
    # the 500,000-task count. The other counts (workers, queues, workflows, activities) always
    # apply (docs/decisions.md).
    limits: LimitsKind = "local"
    # Derives the key that seals API key secrets (needed to check Access Tokens); unset, one
    # is generated and kept in the database, which suits local work only.
    secret_key: str | None = None
    # Origins allowed to call the worker SDK's endpoints from a browser, comma-separated;
    # "*" allows any. Unset: none, except with the manual clock (local work), which allows any.
    allowed_origins: str | None = None
    # Seconds between the whitespace heartbeats on an idle worker SDK websocket.
    heartbeat_seconds: int = 15
    # Seconds a worker stays present after its last SDK session closes (the SDK reconnects
    # within a few), before `setWorkerOfflineIfDisconnected` moves it to Offline.
    presence_grace_seconds: int = 10
    # Seconds a process's sessions outlive its last sign of life: a killed process's agents
    # count as gone this long after it died (it renews every third of this).
    presence_lapse_seconds: int = 15
    # A bearer token that reads /switchboard/metrics for every workspace (None: only an
    # account's Basic credentials, for that account's workspaces).
    metrics_token: str | None = None
    # json: one JSON object per log line, each with the request id of the request it served.
    log_format: LogFormat = "text"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with every non-None override applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_ENV_NAMES = {
    "host": "SWITCHBOARD_HOST",
    "port": "SWITCHBOARD_PORT",
    "database_url": "SWITCHBOARD_DATABASE_URL",
    "base_url": "SWITCHBOARD_BASE_URL",
    "account_sid": "SWITCHBOARD_ACCOUNT_SID",
    "auth_token": "SWITCHBOARD_AUTH_TOKEN",
    "clock": "SWITCHBOARD_CLOCK",
    "max_workers_per_workspace": "SWITCHBOARD_MAX_WORKERS",
    "list_attributes": "SWITCHBOARD_LIST_ATTRIBUTES",
    "log_level": "SWITCHBOARD_LOG_LEVEL",
    "event_retention_days": "SWITCHBOARD_EVENT_RETENTION_DAYS",
    "event_callback_attempts": "SWITCHBOARD_EVENT_CALLBACK_ATTEMPTS",
    "max_body_bytes": "SWITCHBOARD_MAX_BODY_BYTES",
    "limits": "SWITCHBOARD_LIMITS",
    "secret_key": "SWITCHBOARD_SECRET_KEY",
    "allowed_origins": "SWITCHBOARD_ALLOWED_ORIGINS",
    "heartbeat_seconds": "SWITCHBOARD_HEARTBEAT_SECONDS",
    "presence_grace_seconds": "SWITCHBOARD_PRESENCE_GRACE_SECONDS",
    "presence_lapse_seconds": "SWITCHBOARD_PRESENCE_LAPSE_SECONDS",
    "metrics_token": "SWITCHBOARD_METRICS_TOKEN",
    "log_format": "SWITCHBOARD_LOG_FORMAT",
}


def _convert(name: str, raw: str) -> Any:
    """The typed value of one variable; a value that does not parse is refused by name
    rather than read as a default (a typo must not silently switch a feature off)."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    var = _ENV_NAMES[name]
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{var} must be a whole number, not {raw!r}") from None
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{var} must be true or false, not {raw!r}")
    if name == "clock" and raw not in ("system", "manual"):
        raise ValueError(f"SWITCHBOARD_CLOCK must be 'system' or 'manual', not {raw!r}")
    if name == "limits" and raw not in ("local", "twilio"):
        raise ValueError(f"SWITCHBOARD_LIMITS must be 'local' or 'twilio', not {raw!r}")
    if name == "log_format" and raw not in ("text", "json"):
        raise ValueError(f"SWITCHBOARD_LOG_FORMAT must be 'text' or 'json', not {raw!r}")
    return raw


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from SWITCHBOARD_* variables; anything unset keeps its default."""
    env = os.environ if environ is None else environ
    values = {name: _convert(name, env[var]) for name, var in _ENV_NAMES.items() if env.get(var)}
    return Settings(**values)


ENV_NAMES: Mapping[str, str] = _ENV_NAMES
