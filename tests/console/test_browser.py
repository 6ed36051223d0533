"""The console in a real browser: Debian's chromium, headless, driven by Playwright (never a
downloaded browser). A person signs in, watches a task arrive on the queue board and move as
a worker takes it through the SDK, opens the task's timeline and reads why another waits."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from twilio.rest import Client

from switchboard.console.session import COOKIE, LIFETIME_MS, PATH, Sessions
from tests.support import ACCOUNT_SID, AUTH_TOKEN, RunningServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "the console's tests need Debian's chromium (.ci/run installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_server: RunningServer) -> Iterator[Page]:
    # Closed before the server stops: an open board holds a live stream to it.
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def queue_cell(page: Page, queue_sid: str, field: str) -> Any:
    return page.locator(f'#queues tr[data-queue="{queue_sid}"] [data-field="{field}"]')


def test_a_task_moves_live_on_the_board_and_tells_why_another_waits(
    page: Page, live_client: Client
) -> None:
    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Front desk")
    handle = live_client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in handle.activities.list()}
    support = handle.task_queues.create(friendly_name="Support", target_workers="1==1").sid
    klingon = handle.task_queues.create(
        friendly_name="Klingon", target_workers="languages HAS 'tlh'"
    ).sid
    routing = {"filters": [{"filter_friendly_name": "Klingon speakers",
                            "expression": "lang == 'tlh'", "targets": [{"queue": klingon}]}],
               "default_filter": {"queue": support}}  # fmt: skip
    flow = handle.workflows.create(
        friendly_name="Main", configuration=json.dumps({"task_routing": routing})
    ).sid
    alice = handle.workers.create(
        friendly_name="Alice", activity_sid=activities["Offline"],
        attributes=json.dumps({"languages": ["en"]}),
    ).sid  # fmt: skip

    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Account SID or API key SID").fill(ACCOUNT_SID)
    page.get_by_label("Auth token or API key secret").fill(AUTH_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Front desk").click()
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(queue_cell(page, support, "waiting")).to_have_text("0")

    # A task arrives: the board shows it waiting, without a reload.
    updates = page.locator("#main").get_attribute("data-updates")
    task = handle.tasks.create(attributes=json.dumps({"lang": "en"}), workflow_sid=flow).sid
    expect(queue_cell(page, support, "waiting")).to_have_text("1")
    expect(page.locator(f'#waiting tr[data-task="{task}"]')).to_be_visible()
    assert page.locator("#main").get_attribute("data-updates") != updates  # live, not reloaded

    # Alice comes in and is offered it; she accepts through the SDK.
    handle.workers(alice).update(activity_sid=activities["Available"])
    expect(queue_cell(page, support, "reserved")).to_have_text("1")
    expect(queue_cell(page, support, "waiting")).to_have_text("0")
    (offer,) = handle.tasks(task).reservations.list()
    handle.tasks(task).reservations(offer.sid).update(reservation_status="accepted")
    expect(queue_cell(page, support, "assigned")).to_have_text("1")
    expect(queue_cell(page, support, "reserved")).to_have_text("0")

    # A task nobody can take: open it from the board and read why it waits.
    stuck = handle.tasks.create(attributes=json.dumps({"lang": "tlh"}), workflow_sid=flow).sid
    page.locator(f'#waiting a:text("{stuck}")').click()
    expect(page.locator("#task-status")).to_have_text("pending")
    expect(page.locator("#why-summary")).to_contain_text("No worker is in queue Klingon")
    page.get_by_label("Explain for worker").select_option(alice)
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#why-worker")).to_contain_text("not in queue Klingon")
    expect(page.locator("#why-worker")).to_contain_text("languages HAS 'tlh'")
    expect(page.locator("#timeline")).to_contain_text("task-queue.entered")

    # The first task's timeline: its reservation and how it ended.
    page.goto(f"/switchboard/console/workspaces/{ws.sid}/tasks/{task}")
    expect(page.locator("#task-status")).to_have_text("assigned")
    expect(page.locator("#timeline")).to_contain_text("reservation.accepted")
    expect(page.locator("#reservations")).to_contain_text("accepted")
    expect(page.locator("#why-heading")).to_have_count(0)

    # The expression playground, reached from the board.
    page.get_by_role("link", name="← Queue board").click()
    page.get_by_role("link", name="Expression playground").click()
    page.get_by_label("Expression", exact=True).fill("languages HAS 'tlh'")
    page.get_by_label("Worker").select_option(alice)
    page.get_by_role("button", name="Evaluate").click()
    expect(page.locator("#result")).to_contain_text("no match")
    expect(page.locator("#result")).to_contain_text("languages HAS 'tlh'")


def test_the_board_is_usable_by_keyboard(page: Page, live_client: Client) -> None:
    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Keyboard")
    page.goto("/switchboard/console/sign-in")
    expect(page.get_by_label("Account SID or API key SID")).to_be_focused()
    page.keyboard.type(ACCOUNT_SID)
    page.keyboard.press("Tab")
    page.keyboard.type(AUTH_TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Workspaces")).to_be_visible()
    link = page.get_by_role("link", name="Keyboard")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        f"{page.url.split('/switchboard')[0]}/switchboard/console/workspaces/{ws.sid}"
    )


def test_a_session_ending_on_the_live_board_says_to_sign_in_again(
    page: Page, live_server: RunningServer, live_client: Client
) -> None:
    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Night shift")
    # A session of the server's own signing that ends a few seconds from now, as one signed
    # in twelve hours ago would.
    store = live_server.server.config.app.state.services.store
    sessions = Sessions(store.get_meta("console_secret").encode())
    cookie, _ = sessions.issue(ACCOUNT_SID, int(time.time() * 1000) - LIFETIME_MS + 4_000)
    page.context.add_cookies(
        [{"name": COOKIE, "value": cookie, "url": f"{live_server.url}{PATH}/"}]
    )
    page.goto(f"{PATH}/workspaces/{ws.sid}")
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.locator("#live-ended")).to_be_hidden()

    # The stream ends with the session: the page says so rather than show figures that stopped.
    ended = page.locator("#live-ended")
    expect(ended).to_be_visible(timeout=20_000)
    expect(ended).to_contain_text("Your session has ended")
    expect(page.locator("#live-status")).to_have_text("Signed out")
    page.get_by_role("link", name="Sign in again").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Account SID or API key SID").fill(ACCOUNT_SID)
    page.get_by_label("Auth token or API key secret").fill(AUTH_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}{PATH}/workspaces/{ws.sid}")
    expect(page.locator("#live-status")).to_have_text("Live")
