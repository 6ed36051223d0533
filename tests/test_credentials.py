"""Credentials everywhere at once: two servers on one database (SQLite and PostgreSQL), as two
processes would be. A token changed or an API key deleted through one is refused by the other
once its credential cache has expired (a few seconds), and a new token works there at once.

Server A's cache runs on a clock the test moves, so "a few seconds later" needs no sleep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from switchboard import cli
from switchboard.api.context import CREDENTIAL_TTL_SECONDS, CredentialCache, Services
from switchboard.app import build_services, create_app
from switchboard.config import ENV_NAMES, Settings
from switchboard.storage import Store
from tests.support import ACCOUNT_SID, AUTH_TOKEN, POSTGRES_URL, make_services

NEW_TOKEN = "replaced-auth-token"


@dataclass
class Seconds:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TwoServers:
    a: TestClient
    b: TestClient
    b_services: Services
    clock: Seconds
    url: str

    def a_status(self, user: str, password: str) -> int:
        return self.a.get("/v1/Workspaces", auth=(user, password)).status_code

    def later(self) -> None:
        self.clock.now += CREDENTIAL_TTL_SECONDS


def _database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    schema: str = request.getfixturevalue("pg_schema")
    Store.open(POSTGRES_URL, schema=schema).close()  # creates and migrates the schema
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options=-csearch_path%3D{schema}"


def _services(url: str) -> Services:
    services = build_services(Settings(database_url=url, clock="manual"), store=Store.open(url))
    services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    return services


@pytest.fixture(params=["sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoServers]:
    url = _database(request, tmp_path)
    a_services = _services(url)
    clock = Seconds()
    a_services.auth_cache = CredentialCache(now=clock)
    b_services = _services(url)
    with (
        TestClient(create_app(a_services.settings, services=a_services)) as a,
        TestClient(create_app(b_services.settings, services=b_services)) as b,
    ):
        yield TwoServers(a, b, b_services, clock, url)
    b_services.store.close()
    a_services.store.close()


def test_a_token_changed_elsewhere_is_seen_within_seconds(servers: TwoServers) -> None:
    assert servers.a_status(ACCOUNT_SID, AUTH_TOKEN) == 200
    # What B does when it starts with --auth-token (or SWITCHBOARD_AUTH_TOKEN) set anew.
    servers.b_services.engine.accounts.ensure_account(ACCOUNT_SID, NEW_TOKEN)
    assert servers.b.get("/v1/Workspaces", auth=(ACCOUNT_SID, AUTH_TOKEN)).status_code == 401
    # The new token is never refused, not even while the old one is still trusted.
    assert servers.a_status(ACCOUNT_SID, NEW_TOKEN) == 200
    servers.later()
    assert servers.a_status(ACCOUNT_SID, AUTH_TOKEN) == 401
    assert servers.a_status(ACCOUNT_SID, NEW_TOKEN) == 200


def test_an_api_key_deleted_elsewhere_is_refused_within_seconds(servers: TwoServers) -> None:
    key, secret = servers.b_services.engine.accounts.create_api_key(ACCOUNT_SID, "ci")
    assert servers.a_status(key.sid, secret) == 200
    assert servers.b_services.engine.accounts.delete_api_key(key.sid) is True
    servers.later()
    assert servers.a_status(key.sid, secret) == 401
    assert servers.a_status(ACCOUNT_SID, AUTH_TOKEN) == 200


# -- switchboard api-key list / delete ----------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_api_key_commands_list_and_delete(
    servers: TwoServers, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    where = ["--database-url", servers.url, "--account-sid", ACCOUNT_SID]
    code, out, _ = _run(capsys, "api-key", "create", "--name", "deploy", *where)
    assert code == 0
    found = re.search(r"API key SID: (SK[0-9a-f]{32})\nsecret:\s+(\S+)", out)
    assert found is not None
    sid, secret = found.groups()
    assert servers.a_status(sid, secret) == 200

    code, out, _ = _run(capsys, "api-key", "list", *where)
    assert code == 0
    assert re.fullmatch(rf"{sid}  \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ  deploy\n", out), out
    assert secret not in out

    assert _run(capsys, "api-key", "delete", sid, *where)[:2] == (0, f"deleted {sid}\n")
    servers.later()
    assert servers.a_status(sid, secret) == 401
    assert _run(capsys, "api-key", "list", *where)[:2] == (0, "")

    code, _, err = _run(capsys, "api-key", "delete", sid, *where)
    assert code == 1 and sid in err
    code, _, err = _run(capsys, "api-key", "delete", *where)
    assert code == 2 and "SID" in err


def test_the_cache_forgets_failures(tmp_path: Path) -> None:
    """A credential refused once works as soon as it becomes valid (no negative caching)."""
    services = make_services(tmp_path)
    try:
        with TestClient(create_app(services.settings, services=services)) as http:
            assert http.get("/v1/Workspaces", auth=(ACCOUNT_SID, NEW_TOKEN)).status_code == 401
            services.engine.accounts.ensure_account(ACCOUNT_SID, NEW_TOKEN)
            assert http.get("/v1/Workspaces", auth=(ACCOUNT_SID, NEW_TOKEN)).status_code == 200
    finally:
        services.store.close()
