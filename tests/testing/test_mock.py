"""mock_taskrouter: unmodified code, any credentials, TaskRouter's host only."""

from __future__ import annotations

import asyncio

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from switchboard.testing import TaskRouter, TaskRouterTestError, UnmockedHostError, mock_taskrouter

SID = "AC" + "7" * 32


def application_code(sid: str = SID, token: str = "real-looking-token") -> str:
    """What an application does, knowing nothing of Switchboard."""
    client = Client(sid, token)
    return str(client.taskrouter.v1.workspaces.create(friendly_name="Desk").sid)


def workspace_names(sid: str = SID, token: str = "real-looking-token") -> list[str]:
    return [w.friendly_name for w in Client(sid, token).taskrouter.v1.workspaces.list()]


def test_code_under_the_mock_talks_to_switchboard() -> None:
    original = TwilioHttpClient.request
    with mock_taskrouter() as taskrouter:
        sid = application_code()
        assert workspace_names() == ["Desk"]
        assert (
            taskrouter.client_for(SID, "real-looking-token")
            .taskrouter.v1.workspaces(sid)
            .fetch()
            .friendly_name
            == "Desk"
        )
    assert TwilioHttpClient.request is original


def test_any_credentials_do_each_with_an_account_of_its_own() -> None:
    with mock_taskrouter():
        application_code("an-api-key-or-anything", "secret")
        assert workspace_names("an-api-key-or-anything", "secret") == ["Desk"]
        assert workspace_names() == []
        assert workspace_names(SID, "a-new-token") == []  # the same account, a new token


KEY_SID = "SK" + "5" * 32


def test_an_api_key_client_acts_on_the_account_it_names() -> None:
    """Client(key, secret, account_sid), as Twilio recommends for production: the key is
    that account's, so what it creates is the account's, not an account's of its own."""
    with mock_taskrouter() as taskrouter:
        keyed = Client(KEY_SID, "the-key-secret", SID)
        sid = keyed.taskrouter.v1.workspaces.create(friendly_name="Keyed desk").sid
        assert workspace_names() == ["Keyed desk"]  # the account's own credentials see it
        assert [w.sid for w in keyed.taskrouter.v1.workspaces.list()] == [sid]
        owner = taskrouter.client_for(SID, "real-looking-token")
        assert owner.taskrouter.v1.workspaces(sid).fetch().account_sid == SID
        # The key is the account's only: another account naming it sees nothing of it.
        elsewhere = Client(KEY_SID, "another-secret", "AC" + "8" * 32)
        assert elsewhere.taskrouter.v1.workspaces.list() == []
        assert [w.sid for w in keyed.taskrouter.v1.workspaces.list()] == [sid]


def test_an_api_key_of_the_fixtures_account_reaches_its_workspaces(
    taskrouter: TaskRouter,
) -> None:
    ws = taskrouter.workspace({"queues": {"all": "1 == 1"}, "workers": {"alice": {}}})
    with mock_taskrouter(taskrouter):
        keyed = Client(KEY_SID, "the-key-secret", taskrouter.account_sid)
        task = keyed.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes="{}")
    assert ws.reservations(task.sid)[0].worker_sid == ws.workers["alice"]
    # The kit's own credentials are untouched by the key's use.
    assert taskrouter.client.taskrouter.v1.workspaces(ws.sid).fetch().sid == ws.sid


def test_an_api_key_without_an_account_gets_one_of_its_own() -> None:
    with mock_taskrouter():
        Client(KEY_SID, "secret").taskrouter.v1.workspaces.create(friendly_name="Alone")
        assert workspace_names() == []
        listed = Client(KEY_SID, "secret").taskrouter.v1.workspaces.list()
        assert [w.friendly_name for w in listed] == ["Alone"]


def test_other_twilio_hosts_are_refused_by_name() -> None:
    with mock_taskrouter(), pytest.raises(UnmockedHostError, match=r"api\.twilio\.com"):
        Client(SID, "token").api.v2010.accounts(SID).fetch()


def test_the_decorator_gives_each_call_a_fresh_switchboard() -> None:
    @mock_taskrouter()
    def count_after_creating_one() -> int:
        application_code()
        return len(workspace_names())

    assert count_after_creating_one() == 1
    assert count_after_creating_one() == 1


def test_the_decorator_wraps_coroutines() -> None:
    @mock_taskrouter()
    async def create() -> str:
        return application_code()

    assert asyncio.run(create()).startswith("WS")


def test_state_kept_across_tests_until_reset() -> None:
    mock = mock_taskrouter()
    mock.start()
    try:
        application_code()
        assert workspace_names() == ["Desk"]  # a later test sees it
        mock.reset()
        assert workspace_names() == []
    finally:
        mock.stop()
    with pytest.raises(TaskRouterTestError, match="not started"):
        mock.reset()


def test_a_given_kit_is_served_and_left_open(taskrouter: TaskRouter) -> None:
    with mock_taskrouter(taskrouter):
        sid = application_code(taskrouter.account_sid, taskrouter.auth_token)
    assert taskrouter.client.taskrouter.v1.workspaces(sid).fetch().friendly_name == "Desk"


def test_nothing_is_served_once_the_mock_stops() -> None:
    with mock_taskrouter():
        pass
    assert TwilioHttpClient.request.__module__ == "twilio.http.http_client"


def test_bad_input_gets_twilios_error(taskrouter: TaskRouter) -> None:
    with mock_taskrouter(), pytest.raises(TwilioRestException) as caught:
        Client(SID, "t").taskrouter.v1.workspaces.create(friendly_name="")
    assert caught.value.status == 400


def test_other_hosts_may_be_let_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """With other_hosts="allow" they go to the SDK's own client as before (here a stand-in
    for the network), while TaskRouter's host is still served in process."""
    sent: list[str] = []

    def network(client: object, method: str, url: str, *args: object) -> object:
        sent.append(url)
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(TwilioHttpClient, "request", network)
    with mock_taskrouter(other_hosts="allow"):
        assert application_code().startswith("WS")
        with pytest.raises(ConnectionError):
            Client(SID, "token").api.v2010.accounts(SID).fetch()
    assert sent == [f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json"]
    assert TwilioHttpClient.request is network


def test_the_async_client_is_served_too() -> None:
    from twilio.http.async_http_client import AsyncTwilioHttpClient

    async def application() -> list[str]:
        http = AsyncTwilioHttpClient()
        client = Client(SID, "token", http_client=http)
        try:
            await client.taskrouter.v1.workspaces.create_async(friendly_name="Async desk")
            listed = await client.taskrouter.v1.workspaces.list_async()
        finally:
            await http.close()
        return [w.friendly_name for w in listed]

    with mock_taskrouter():
        assert asyncio.run(application()) == ["Async desk"]


def test_the_async_client_acts_on_its_api_keys_account() -> None:
    from twilio.http.async_http_client import AsyncTwilioHttpClient

    async def application() -> str:
        http = AsyncTwilioHttpClient()
        try:
            keyed = Client(KEY_SID, "the-key-secret", SID, http_client=http)
            created = await keyed.taskrouter.v1.workspaces.create_async(friendly_name="Async")
        finally:
            await http.close()
        return str(created.sid)

    with mock_taskrouter():
        sid = asyncio.run(application())
        assert workspace_names() == ["Async"]
        assert Client(SID, "token").taskrouter.v1.workspaces(sid).fetch().sid == sid
