"""Authentication: HTTP Basic with an Account SID and auth token or an API key, and workspaces
visible only to their own account."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard import cli
from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.config import ENV_NAMES, Settings
from switchboard.storage import Store
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    InProcessHttpClient,
)


def key_client(app: Any, key_sid: str, secret: str, account_sid: str = ACCOUNT_SID) -> Client:
    """The SDK authenticated with an API key, the way clients.md §1.1 shows."""
    client = Client(key_sid, secret, account_sid=account_sid, http_client=InProcessHttpClient(app))
    client.edge = client.region = None
    client.taskrouter.base_url = "http://testserver"
    return client


def test_account_sid_and_auth_token(http: TestClient, workspace: Any) -> None:
    response = http.get("/v1/Workspaces", auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert response.status_code == 200
    assert [w["sid"] for w in response.json()["workspaces"]] == [workspace.sid]


@pytest.mark.both_databases
def test_an_api_key_acts_for_its_account(
    app: Any, services: Services, client: Client, workspace: Any
) -> None:
    key, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "ci")
    assert key.sid.startswith("SK") and key.account_sid == ACCOUNT_SID
    keyed = key_client(app, key.sid, secret)
    assert [w.sid for w in keyed.taskrouter.v1.workspaces.list()] == [workspace.sid]
    created = keyed.taskrouter.v1.workspaces.create(friendly_name="by key")
    assert created.account_sid == ACCOUNT_SID
    assert client.taskrouter.v1.workspaces(created.sid).fetch().friendly_name == "by key"


def test_the_secret_is_kept_only_as_a_hash(services: Services) -> None:
    key, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "ci")
    stored = services.store.get_api_key(key.sid)
    assert stored is not None and secret not in stored.secret_hash


@pytest.mark.parametrize("credentials", ["wrong-secret", "token"], ids=["secret", "auth-token"])
def test_a_wrong_api_key_secret_is_401(
    app: Any, services: Services, workspace: Any, credentials: str
) -> None:
    key, _ = services.engine.accounts.create_api_key(ACCOUNT_SID, "ci")
    password = AUTH_TOKEN if credentials == "token" else "wrong-secret"
    with pytest.raises(TwilioRestException) as caught:
        key_client(app, key.sid, password).taskrouter.v1.workspaces(workspace.sid).fetch()
    assert (caught.value.status, caught.value.code) == (401, 20003)


def test_another_accounts_key_sees_only_that_account(
    app: Any, services: Services, workspace: Any
) -> None:
    key, secret = services.engine.accounts.create_api_key(OTHER_ACCOUNT_SID, "other")
    # Passing our account SID to the SDK changes nothing: the key decides the account.
    keyed = key_client(app, key.sid, secret, account_sid=ACCOUNT_SID)
    assert keyed.taskrouter.v1.workspaces.list() == []
    with pytest.raises(TwilioRestException) as caught:
        keyed.taskrouter.v1.workspaces(workspace.sid).fetch()
    assert caught.value.status == 404


def _foreign_requests(ws: str, activity: str) -> list[tuple[str, str, dict[str, str]]]:
    base = f"/v1/Workspaces/{ws}"
    return [
        ("GET", base, {}),
        ("POST", base, {"FriendlyName": "stolen"}),
        ("DELETE", base, {}),
        ("GET", f"{base}/Activities", {}),
        ("POST", f"{base}/Activities", {"FriendlyName": "Stolen"}),
        ("GET", f"{base}/Activities/{activity}", {}),
        ("POST", f"{base}/Activities/{activity}", {"FriendlyName": "Stolen"}),
        ("DELETE", f"{base}/Activities/{activity}", {}),
        ("GET", f"{base}/TaskChannels", {}),
        ("GET", f"{base}/TaskQueues", {}),
        ("GET", f"{base}/Workers", {}),
    ]


def test_another_accounts_workspace_is_404_for_every_method(
    http: TestClient, client: Client, workspace: Any
) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    spare = ws.activities.create(friendly_name="Spare")
    before = http.get(f"/v1/Workspaces/{workspace.sid}/Activities").json()["activities"]
    for method, path, data in _foreign_requests(workspace.sid, spare.sid):
        response = http.request(
            method, path, data=data or None, auth=(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)
        )
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == 20404
        assert workspace.sid in response.json()["message"]
    assert ws.fetch().friendly_name == workspace.friendly_name
    after = http.get(f"/v1/Workspaces/{workspace.sid}/Activities").json()["activities"]
    assert after == before


def test_another_accounts_workspace_through_the_sdk(other_client: Client, workspace: Any) -> None:
    theirs = other_client.taskrouter.v1.workspaces(workspace.sid)
    for call in (
        theirs.fetch,
        lambda: theirs.update(friendly_name="stolen"),
        theirs.delete,
        lambda: theirs.activities.create(friendly_name="Stolen"),
    ):
        with pytest.raises(TwilioRestException) as caught:
            call()
        assert (caught.value.status, caught.value.code) == (404, 20404)


# -- the api-key command ----------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)


def _created_key(output: str) -> tuple[str, str, str]:
    key = re.search(r"API key SID: (SK[0-9a-f]{32})", output)
    secret = re.search(r"secret:\s+(\S+)", output)
    account = re.search(r"account SID: (AC[0-9a-f]{32})", output)
    assert key and secret and account, output
    return key.group(1), secret.group(1), account.group(1)


def test_api_key_create_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    argv = ["api-key", "create", "--database-url", url, "--account-sid", ACCOUNT_SID]
    assert cli.main([*argv, "--name", "deploy"]) == 0
    key_sid, secret, account_sid = _created_key(capsys.readouterr().out)
    assert account_sid == ACCOUNT_SID

    # The printed key works against a server on that database.
    services = build_services(Settings(database_url=url), store=Store.open(url))
    try:
        stored = services.store.get_api_key(key_sid)
        assert stored is not None and stored.friendly_name == "deploy"
        assert secret not in stored.secret_hash
        app = create_app(services.settings, services=services)
        keyed = key_client(app, key_sid, secret)
        created = keyed.taskrouter.v1.workspaces.create(friendly_name="deployed")
        assert created.account_sid == ACCOUNT_SID
    finally:
        services.store.close()


def test_api_key_create_reads_the_database_from_the_environment(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", url)
    assert cli.main(["api-key", "create"]) == 0
    first_key, _, account = _created_key(capsys.readouterr().out)
    # A second key, with no account named, belongs to the account the first run created.
    assert cli.main(["api-key", "create"]) == 0
    second_key, _, same_account = _created_key(capsys.readouterr().out)
    assert same_account == account and second_key != first_key
    store = Store.open(url)
    try:
        assert [a.sid for a in store.list_accounts()] == [account]
        assert store.get_api_key(first_key) is not None
    finally:
        store.close()
