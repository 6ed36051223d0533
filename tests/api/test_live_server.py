"""The official SDK over a real uvicorn socket: its default requests-based client, and its
aiohttp-based async client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from tests.support import RunningServer, sdk_client

ACTIVITY_NAMES = ["Offline", "Available", "Unavailable"]


def test_workspace_round_trip_over_a_socket(
    live_client: Client, live_server: RunningServer
) -> None:
    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Live")
    assert ws.url == f"{live_server.url}/v1/Workspaces/{ws.sid}"
    handle = live_client.taskrouter.v1.workspaces(ws.sid)

    updated = handle.update(friendly_name="Renamed", prioritize_queue_order="LIFO")
    assert (updated.friendly_name, updated.prioritize_queue_order) == ("Renamed", "LIFO")
    assert handle.fetch().friendly_name == "Renamed"
    assert [w.sid for w in live_client.taskrouter.v1.workspaces.list()] == [ws.sid]

    assert handle.delete() is True
    with pytest.raises(TwilioRestException) as caught:
        handle.fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_list_follows_next_page_urls_over_a_socket(live_client: Client) -> None:
    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Paged")
    activities = live_client.taskrouter.v1.workspaces(ws.sid).activities
    # The three default activities share a creation time, so the SID orders them.
    everything = [a.sid for a in activities.list()]
    assert len(everything) == 3
    first = activities.page(page_size=1)
    assert [a.sid for a in first] == everything[:1]
    second = first.next_page()
    assert second is not None
    assert [a.sid for a in second] == everything[1:2]
    assert [a.sid for a in activities.list(page_size=1)] == everything
    assert [a.sid for a in activities.list(page_size=1, limit=2)] == everything[:2]
    names = {a.friendly_name for a in activities.list(page_size=1)}
    assert names == set(ACTIVITY_NAMES)


async def _async_round_trip(base_url: str) -> dict[str, Any]:
    http = AsyncTwilioHttpClient()
    try:
        client = sdk_client(http, base_url)
        workspaces = client.taskrouter.v1.workspaces
        ws = await workspaces.create_async(friendly_name="Async")
        handle = workspaces(ws.sid)
        fetched = await handle.fetch_async()
        names = sorted(a.friendly_name for a in await handle.activities.list_async(page_size=1))
        renamed = await handle.update_async(friendly_name="Renamed")
        deleted = await handle.delete_async()
        try:
            await handle.fetch_async()
        except TwilioRestException as error:
            missing: Any = (error.status, error.code)
        else:
            missing = None
        return {
            "fetched": fetched.sid == ws.sid,
            "names": names,
            "renamed": renamed.friendly_name,
            "deleted": deleted,
            "missing": missing,
        }
    finally:
        await http.close()


def test_async_client_over_a_socket(live_server: RunningServer) -> None:
    result = asyncio.run(_async_round_trip(live_server.url))
    assert result == {
        "fetched": True,
        "names": sorted(ACTIVITY_NAMES),
        "renamed": "Renamed",
        "deleted": True,
        "missing": (404, 20404),
    }
