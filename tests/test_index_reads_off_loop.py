"""Reads of the routing index wait on the database off the event loop: on PostgreSQL the
worker list, the workers' real-time statistics and the console's board read the workspace's
change number on the read pool, so while the index is current they make no database call on
the loop's thread (each would hold every other request for a round trip); and a change
another process committed still shows in them."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import pytest

from switchboard.app import create_app
from tests.support import ACCOUNT_SID, AUTH_TOKEN, RunningServer, make_services, sdk_client

CONSOLE = "/switchboard/console"


def signed_in(url: str) -> httpx.Client:
    """A console session, through the sign-in form as a browser opens one."""
    browser = httpx.Client(base_url=url)
    form = browser.get(f"{CONSOLE}/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    answer = browser.post(
        f"{CONSOLE}/sign-in",
        data={"csrf": csrf.group(1), "username": ACCOUNT_SID, "password": AUTH_TOKEN, "next": ""},
    )
    assert answer.status_code in (200, 303)
    return browser


@pytest.mark.slow
def test_index_reads_make_no_database_call_on_the_event_loop(
    tmp_path: Path, pg_schema: str
) -> None:
    # Presence renews this process's row with a write on the loop: once an hour here.
    services = make_services(tmp_path, "postgres", pg_schema, presence_lapse_seconds=3 * 3600)
    other = make_services(tmp_path, "postgres", pg_schema)  # another process's engine
    app = create_app(services.settings, services=services)
    try:
        with RunningServer(app) as server:
            loop_thread = server.thread.ident
            tr = sdk_client(None, server.url).taskrouter.v1
            ws = tr.workspaces.create(friendly_name="Index reads").sid
            desk = tr.workspaces(ws)
            available = next(a for a in desk.activities.list() if a.friendly_name == "Available")
            for n, team in enumerate(["sales", "sales", "support"]):
                desk.workers.create(
                    friendly_name=f"w{n}", activity_sid=available.sid,
                    attributes=f'{{"team": "{team}"}}',
                )  # fmt: skip
            queue = desk.task_queues.create(
                friendly_name="Sales", target_workers='team == "sales"'
            ).sid

            browser = signed_in(server.url)
            board_url = f"{CONSOLE}/workspaces/{ws}/board.json"

            threads: list[int] = []
            services.store.observe_database(lambda seconds: threads.append(threading.get_ident()))
            by_expression = desk.workers.list(target_workers_expression='team == "support"')
            by_queue = desk.workers.list(task_queue_sid=queue)
            figures = desk.workers.real_time_statistics().fetch()
            boards = [browser.get(board_url).json() for _ in range(2)]  # built, then kept
            services.store.observe_database(None)

            assert [w.friendly_name for w in by_expression] == ["w2"]
            assert sorted(w.friendly_name for w in by_queue) == ["w0", "w1"]
            assert figures.total_workers == 3
            assert [row["name"] for row in boards[1]["queues"]] == ["Sales"]
            assert threads  # the change number was read ...
            assert loop_thread not in threads  # ... each time off the loop's thread

            # A worker another process adds shows at once: the index catches up to the
            # change number read on the pool.
            other.engine.workers.create_worker(
                ws, friendly_name="w3", activity_sid=available.sid, attributes='{"team": "sales"}'
            )
            assert sorted(w.friendly_name for w in desk.workers.list(task_queue_sid=queue)) == [
                "w0", "w1", "w3",
            ]  # fmt: skip
            assert desk.workers.real_time_statistics().fetch().total_workers == 4
            browser.close()
    finally:
        other.store.close()
        services.store.close()
