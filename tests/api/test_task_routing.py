"""Routing through the SDK: which queue a task lands in, which worker is reserved, how targets
time out, skip and prioritise, queue ordering, TTLs, re-routing, and the events of a task's
life. Time moves only with the manual clock (`Env.advance` = advance + engine.deadlines.tick)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twilio.rest import Client

from switchboard.api.context import Services
from tests.support import START_MS, Env, iso


@pytest.fixture
def env(client: Client, services: Services, workspace: Any) -> Env:
    return Env(client, services, workspace)


def queue_of(env: Env, task_sid: str) -> str | None:
    found: str | None = env.fetch(task_sid).task_queue_sid
    return found


def test_first_matching_filter_wins(env: Env) -> None:
    sales, support, other = env.queue("Sales"), env.queue("Support"), env.queue("Other")
    env.workflow({"filters": [
        {"filter_friendly_name": "sales", "expression": "type == 'sales'",
         "targets": [{"queue": sales}]},
        {"expression": "type IN ['sales', 'support']", "targets": [{"queue": support}]},
        {"expression": "1==1", "targets": [{"queue": other}]},
    ]})  # fmt: skip
    assert queue_of(env, env.task(type="sales").sid) == sales
    assert queue_of(env, env.task(type="support").sid) == support
    assert queue_of(env, env.task(type="billing").sid) == other


@pytest.mark.both_databases
def test_reserves_the_longest_idle_available_eligible_worker(env: Env) -> None:
    q = env.queue("Support", target_workers="skills HAS 'support'")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q, "expression": "worker.level >= task.level"}]}]})  # fmt: skip
    offline = env.worker("Offline", available=False, skills=["support"], level=9)
    env.advance(1)
    outsider = env.worker("Outsider", skills=["sales"], level=9)
    env.advance(1)
    junior = env.worker("Junior", skills=["support"], level=1)
    env.advance(1)
    alice = env.worker("Alice", skills=["support"], level=5)
    env.advance(1)
    bob = env.worker("Bob", skills=["support"], level=5)
    env.advance(1)
    first = env.task(level=3)  # Offline is away, Outsider not in the queue, Junior too junior
    assert first.assignment_status == "reserved"
    assert env.reserved_workers(first.sid) == [alice]
    env.accept(first.sid)
    env.ws.tasks(first.sid).update(assignment_status="completed", reason="done")
    # Alice was reserved after Bob was created, so Bob has now been idle longer.
    second = env.task(level=3)
    assert env.reserved_workers(second.sid) == [bob]
    assert {offline, outsider, junior}.isdisjoint(r.worker_sid for r in env.reservations())


@pytest.mark.both_databases
def test_targets_time_out_in_order_on_the_task_age(env: Env) -> None:
    q1, q2 = env.queue("First", "x == 1"), env.queue("Second", "x == 2")
    q3 = env.queue("Third", "x == 3")
    env.workflow({"filters": [{"filter_friendly_name": "tiers", "expression": "1==1", "targets": [
        {"queue": q1, "timeout": 30}, {"queue": q2, "timeout": 30}, {"queue": q3}]}]})  # fmt: skip
    task = env.task()
    assert queue_of(env, task.sid) == q1
    env.advance(29.9)
    assert queue_of(env, task.sid) == q1
    env.advance(0.1)
    moved = env.fetch(task.sid)
    assert (moved.task_queue_sid, moved.assignment_status) == (q2, "pending")
    assert moved.task_queue_entered_date == iso(START_MS + 30_000)
    assert env.events(task.sid)[-4:] == [
        "task-queue.timeout", "workflow.target-matched", "task-queue.moved", "task-queue.entered"
    ]  # fmt: skip
    env.advance(30)  # the second target expires 60 s after creation
    assert queue_of(env, task.sid) == q3
    env.advance(3600)  # the last target has no timeout: the task stays
    assert queue_of(env, task.sid) == q3


def test_target_deadlines_are_cumulative_for_a_rerouted_task(env: Env) -> None:
    """Re-routed at age 40 s, the task passes over target 0 (expired at 30 s) straight into
    target 1, which still expires at 60 s: deadlines run on the task's age, not the step's."""
    q1, q2 = env.queue("First", "x == 1"), env.queue("Second", "x == 2")
    q3 = env.queue("Third", "x == 3")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q1, "timeout": 30}, {"queue": q2, "timeout": 30}, {"queue": q3}]}]})  # fmt: skip
    task = env.task(v=1)
    env.services.clock.advance_ms(40_000)  # type: ignore[attr-defined]
    env.ws.tasks(task.sid).update(attributes='{"v": 2}')
    assert queue_of(env, task.sid) == q2
    env.advance(19)
    assert queue_of(env, task.sid) == q2
    env.advance(1)
    assert queue_of(env, task.sid) == q3


def test_timing_out_of_the_last_target_cancels_the_task(env: Env) -> None:
    q, default = env.queue("Only", "x == 1"), env.queue("Default", "x == 2")
    env.workflow({"filters": [{"expression": "1==1", "targets": [{"queue": q, "timeout": 45}]}],
                  "default_filter": {"queue": default}})  # fmt: skip
    task = env.task()
    env.advance(45)
    canceled = env.fetch(task.sid)
    assert (canceled.assignment_status, canceled.reason) == ("canceled", "Workflow Timeout")
    assert canceled.task_queue_sid == q  # the default_filter never catches a timed-out task
    assert env.events(task.sid)[-3:] == ["task-queue.timeout", "workflow.timeout", "task.canceled"]


def test_timing_out_of_a_filter_moves_to_the_next_matching_filter(env: Env) -> None:
    q1, q2, q3 = env.queue("A", "x == 1"), env.queue("B", "x == 2"), env.queue("C", "x == 3")
    env.workflow({"filters": [
        {"expression": "kind == 'vip'", "targets": [{"queue": q1, "timeout": 10}]},
        {"expression": "kind == 'basic'", "targets": [{"queue": q2}]},
        {"expression": "1==1", "targets": [{"queue": q3}]},
    ]})  # fmt: skip
    task = env.task(kind="vip")
    env.advance(10)
    assert queue_of(env, task.sid) == q3  # the next filter that matches, skipping 'basic'


def test_default_filter_takes_tasks_no_filter_matches(env: Env) -> None:
    sales, default = env.queue("Sales", "x == 1"), env.queue("Everything", "x == 2")
    env.workflow({"filters": [{"expression": "type == 'sales'", "targets": [{"queue": sales}]}],
                  "default_filter": {"queue": default}})  # fmt: skip
    assert queue_of(env, env.task(type="sales").sid) == sales
    task = env.task(type="other")
    assert queue_of(env, task.sid) == default
    env.advance(86_399)
    assert env.fetch(task.sid).assignment_status == "pending"  # waits there until its TTL
    env.advance(1)
    assert env.fetch(task.sid).reason == "Task TTL Exceeded"


def test_a_task_no_filter_matches_waits_outside_any_queue(env: Env) -> None:
    env.workflow(
        {"filters": [{"expression": "type == 'sales'", "targets": [{"queue": env.queue("Sales")}]}]}
    )
    env.worker("Alice")
    task = env.task(type="other", n=1)
    fetched = env.fetch(task.sid)
    assert (fetched.assignment_status, fetched.task_queue_sid) == ("pending", None)
    assert "task_queue" not in fetched.links
    env.ws.tasks(task.sid).update(attributes='{"type": "sales"}')  # now it routes
    assert env.fetch(task.sid).assignment_status == "reserved"


def test_skip_if_moves_on_when_nobody_is_available(env: Env) -> None:
    experts, anyone = env.queue("Experts", "expert == true"), env.queue("Anyone")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": experts, "timeout": 300, "skip_if": "workers.available == 0"},
        {"queue": anyone}]}]})  # fmt: skip
    env.worker("Expert", available=False, expert=True)
    generalist = env.worker("Generalist")
    task = env.task()
    assert queue_of(env, task.sid) == anyone  # skipped at once, not after 300 s
    assert env.reserved_workers(task.sid) == [generalist]


def test_skip_out_of_the_last_target_falls_into_the_default_filter(env: Env) -> None:
    experts, default = env.queue("Experts", "expert == true"), env.queue("Default", "x == 1")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": experts, "skip_if": "workers.available == 0"}]}],
        "default_filter": {"queue": default}})  # fmt: skip
    task = env.task()
    assert queue_of(env, task.sid) == default


def test_known_worker_sid(env: Env) -> None:
    q = env.queue("Team")
    known = {"queue": q, "known_worker_sid": "task.agent", "timeout": 60}
    env.workflow({"filters": [{"expression": "1==1", "targets": [known, {"queue": q}]}]})
    env.worker("Alice")  # idle longest: would win without the known worker
    env.advance(1)
    bob = env.worker("Bob")
    task = env.task(agent=bob)
    assert env.reserved_workers(task.sid) == [bob]
    env.set_available(bob, False)
    waiting = env.task(agent=bob)  # Bob is busy and away: the task waits for him
    assert env.fetch(waiting.sid).assignment_status == "pending"
    env.advance(60)  # ... until the target times out and anyone may take it
    assert env.fetch(waiting.sid).assignment_status == "reserved"


@pytest.mark.both_databases
def test_order_by_picks_the_best_worker_before_the_longest_idle(env: Env) -> None:
    q = env.queue("Team")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q, "order_by": "worker.level DESC"}]}]})  # fmt: skip
    env.worker("Unrated")
    env.advance(1)
    env.worker("Low", level=1)
    env.advance(1)
    high = env.worker("High", level=7)
    assert env.reserved_workers(env.task().sid) == [high]


@pytest.mark.both_databases
def test_order_by_offers_the_best_few_and_follows_changed_attributes(env: Env) -> None:
    """With room for several, the best by order_by first, ties to the longest idle; a
    worker's new attributes rank it anew (nothing ranked from its old ones is kept)."""
    q = env.queue("Team", max_reserved_workers=2)
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q, "order_by": "worker.level DESC"}]}]})  # fmt: skip
    first_five = env.worker("First five", level=5)
    env.advance(1)
    env.worker("Low", level=1)
    env.advance(1)
    second_five = env.worker("Second five", level=5)
    env.advance(1)
    seven = env.worker("Seven", level=7)
    offered = env.task()
    assert env.reserved_workers(offered.sid) == sorted([seven, first_five])
    env.ws.tasks(offered.sid).update(assignment_status="canceled", reason="again")
    env.ws.workers(first_five).update(attributes='{"level": 9}')
    env.ws.workers(seven).update(attributes='{"level": 0}')
    again = env.task()
    assert env.reserved_workers(again.sid) == sorted([first_five, second_five])


def _cancel(env: Env, task_sid: str) -> None:
    env.ws.tasks(task_sid).update(assignment_status="canceled", reason="again")


@pytest.mark.both_databases
def test_order_by_follows_workers_joining_and_leaving_the_queue(env: Env) -> None:
    """Once a queue's members are ranked, a worker created later, one whose new attributes
    take it out of the queue or bring it in, and a deleted one are ranked as they now are."""
    q = env.queue("Team", "team == 'a'", max_reserved_workers=2)
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q, "order_by": "worker.level DESC"}]}]})  # fmt: skip
    low = env.worker("Low", team="a", level=1)
    env.advance(1)
    mid = env.worker("Mid", team="a", level=3)
    first = env.task()
    assert env.reserved_workers(first.sid) == sorted([mid, low])
    _cancel(env, first.sid)
    top = env.worker("Top", team="a", level=9)
    outsider = env.worker("Outsider", team="b", level=10)
    second = env.task()
    assert env.reserved_workers(second.sid) == sorted([top, mid])
    _cancel(env, second.sid)
    env.ws.workers(top).update(attributes='{"team": "b", "level": 9}')
    env.ws.workers(mid).delete()
    third = env.task()
    assert env.reserved_workers(third.sid) == [low]
    _cancel(env, third.sid)
    env.ws.workers(outsider).update(attributes='{"team": "a", "level": 10}')
    assert env.reserved_workers(env.task().sid) == sorted([outsider, low])


@pytest.mark.both_databases
def test_order_by_ranks_a_worker_back_in_a_queue_that_reads_activities(env: Env) -> None:
    """A queue selecting by activity loses a worker who goes offline and gains it back,
    ranked by its level, when it returns."""
    q = env.queue("On shift", "activity_name == 'Available'")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q, "order_by": "worker.level DESC"}]}]})  # fmt: skip
    env.worker("Junior", level=1)
    senior = env.worker("Senior", level=8)
    first = env.task()
    assert env.reserved_workers(first.sid) == [senior]
    _cancel(env, first.sid)
    env.set_available(senior, False)
    env.set_available(senior)
    assert env.reserved_workers(env.task().sid) == [senior]


@pytest.mark.both_databases
def test_workflows_ordering_by_the_same_text_each_rank_their_own_queue(env: Env) -> None:
    """Two workflows with one order_by text, each to its own queue: each task goes to the best
    of its own queue's members."""
    red, blue = env.queue("Red", "color == 'red'"), env.queue("Blue", "color == 'blue'")
    flows = {
        name: env.workflow(
            {"filters": [{"expression": "1==1", "targets": [{"queue": queue, "order_by": by}]}]},
            name=name,
        )
        for name, queue, by in (("Red flow", red, "worker.level DESC"),
                                ("Blue flow", blue, "worker.level DESC"))
    }  # fmt: skip
    env.worker("Red one", color="red", level=1)
    red_nine = env.worker("Red nine", color="red", level=9)
    blue_five = env.worker("Blue five", color="blue", level=5)
    env.worker("Blue two", color="blue", level=2)
    to_red = env.ws.tasks.create(attributes="{}", workflow_sid=flows["Red flow"])
    to_blue = env.ws.tasks.create(attributes="{}", workflow_sid=flows["Blue flow"])
    assert env.reserved_workers(to_red.sid) == [red_nine]
    assert env.reserved_workers(to_blue.sid) == [blue_five]


def test_a_target_priority_overrides_the_tasks(env: Env) -> None:
    urgent, normal = env.queue("Urgent", "x == 1"), env.queue("Normal", "x == 2")
    env.workflow({"filters": [
        {"expression": "vip == true", "targets": [{"queue": urgent, "priority": 100}]},
        {"expression": "1==1", "targets": [{"queue": normal}]},
    ]})  # fmt: skip
    vip = env.ws.tasks.create(attributes='{"vip": true}', priority=3)
    plain = env.ws.tasks.create(attributes='{"vip": false}', priority=3)
    assert (env.fetch(vip.sid).priority, env.fetch(plain.sid).priority) == (100, 3)


def _drain_order(env: Env, worker_sid: str, count: int) -> list[str]:
    """Make the worker available with room for `count` tasks; the tasks it is offered, in order."""
    env.ws.workers(worker_sid).worker_channels("default").update(capacity=count)
    start = len(env.services.store.events.in_order(env.sid))
    env.set_available(worker_sid)
    return [
        e.task_sid or ""
        for e in env.services.store.events.in_order(env.sid)[start:]
        if e.event_type == "reservation.created"
    ]


@pytest.mark.both_databases
def test_fifo_and_lifo_queues(env: Env) -> None:
    fifo, lifo = (
        env.queue("Fifo", "q == 'fifo'"),
        env.queue("Lifo", "q == 'lifo'", task_order="LIFO"),
    )
    env.workflow({"filters": [
        {"expression": "q == 'fifo'", "targets": [{"queue": fifo}]},
        {"expression": "q == 'lifo'", "targets": [{"queue": lifo}]},
    ]})  # fmt: skip
    tasks: dict[str, list[str]] = {"fifo": [], "lifo": []}
    for priority in (1, 5, 1):
        env.advance(1)
        for name in tasks:
            tasks[name].append(
                env.ws.tasks.create(attributes=json.dumps({"q": name}), priority=priority).sid
            )
    f, ll = tasks["fifo"], tasks["lifo"]
    assert _drain_order(env, env.worker("F", available=False, q="fifo"), 3) == [f[1], f[0], f[2]]
    assert _drain_order(env, env.worker("L", available=False, q="lifo"), 3) == [ll[2], ll[1], ll[0]]


@pytest.mark.both_databases
def test_priority_then_virtual_start_time_across_queues(env: Env) -> None:
    q1, q2 = env.queue("One"), env.queue("Two")
    env.workflow({"filters": [{"expression": "q == 1", "targets": [{"queue": q1}]},
                              {"expression": "q == 2", "targets": [{"queue": q2}]}]})  # fmt: skip
    env.advance(3600)
    low_old = env.ws.tasks.create(attributes='{"q": 1}', priority=1).sid
    env.advance(1)
    high_new = env.ws.tasks.create(attributes='{"q": 2}', priority=5).sid
    env.advance(1)
    high_backdated = env.ws.tasks.create(
        attributes='{"q": 1}', priority=5, virtual_start_time=iso(START_MS)
    ).sid
    worker = env.worker("Both", available=False)
    assert _drain_order(env, worker, 3) == [high_backdated, high_new, low_old]


@pytest.mark.both_databases
def test_max_reserved_workers_offers_the_task_to_several(env: Env) -> None:
    q = env.queue("Broadcast", max_reserved_workers=3)
    env.to_queue(q)
    workers = []
    for name in ("A", "B", "C", "D"):
        workers.append(env.worker(name))
        env.advance(1)
    task = env.task()
    assert env.fetch(task.sid).assignment_status == "reserved"
    assert env.reserved_workers(task.sid) == sorted(workers[:3])  # the three idle longest
    env.accept_as(task.sid, workers[1])
    statuses = {r.worker_sid: r.reservation_status for r in env.reservations(task.sid)}
    assert statuses == {workers[0]: "rescinded", workers[1]: "accepted", workers[2]: "rescinded"}


def test_ttl_expiry_cancels_the_task(env: Env) -> None:
    env.to_queue(env.queue("Parked", target_workers="skill == 'none'"))
    task = env.ws.tasks.create(timeout=60)
    env.advance(59)
    assert env.fetch(task.sid).assignment_status == "pending"
    env.advance(1)
    expired = env.fetch(task.sid)
    assert (expired.assignment_status, expired.reason) == ("canceled", "Task TTL Exceeded")
    assert env.events(task.sid)[-1] == "task.canceled"
    events = env.services.store.events.in_order(env.sid)
    canceled = [e for e in events if e.task_sid == task.sid][-1]
    assert canceled.event_date == START_MS + 60_000
    assert json.loads(canceled.data)["task_canceled_reason"] == "Task TTL Exceeded"


@pytest.mark.both_databases
def test_ttl_expiry_cancels_a_reserved_task_and_its_reservation(env: Env) -> None:
    env.to_queue(env.queue("Q"))
    alice = env.worker("Alice")
    task = env.ws.tasks.create(timeout=30)
    assert env.reserved_workers(task.sid) == [alice]
    env.advance(30)
    assert env.fetch(task.sid).reason == "Task TTL Exceeded"
    assert [r.reservation_status for r in env.reservations(task.sid)] == ["canceled"]


def test_reservation_timeout_offers_the_task_again(env: Env) -> None:
    env.to_queue(env.queue("Q"))
    alice = env.worker("Alice")
    env.advance(1)
    bob = env.worker("Bob")
    task = env.task()
    assert env.reserved_workers(task.sid) == [alice]
    env.advance(120)  # the workflow's TaskReservationTimeout
    assert [r.reservation_status for r in env.reservations(task.sid)] == ["timeout", "pending"]
    assert env.reserved_workers(task.sid) == [bob]
    assert env.ws.workers(alice).fetch().activity_name == "Offline"  # the timeout activity


def test_updating_attributes_of_a_pending_task_reroutes_it(env: Env) -> None:
    spanish, anyone = env.queue("Spanish", "x == 1"), env.queue("Anyone", "x == 2")
    env.workflow({"filters": [
        {"expression": "lang == 'es'", "targets": [{"queue": spanish}]},
        {"expression": "1==1", "targets": [{"queue": anyone}]},
    ]})  # fmt: skip
    task = env.task(lang="en")
    assert queue_of(env, task.sid) == anyone
    env.ws.tasks(task.sid).update(attributes='{"lang": "es"}')
    assert queue_of(env, task.sid) == spanish
    assert "task-queue.moved" in env.events(task.sid)


@pytest.mark.both_databases
def test_re_evaluate_tasks_routes_pending_tasks_through_the_new_configuration(env: Env) -> None:
    old, new = env.queue("Old", "x == 1"), env.queue("New", "x == 2")
    workflow = env.to_queue(old)
    waiting = env.task()
    config = json.dumps({"task_routing": {"default_filter": {"queue": new}}})
    env.ws.workflows(workflow).update(configuration=config)
    assert queue_of(env, waiting.sid) == old  # without ReEvaluateTasks nothing moves
    assert queue_of(env, env.task().sid) == new  # new tasks use the new configuration
    env.ws.workflows(workflow).update(configuration=config, re_evaluate_tasks="true")
    assert queue_of(env, waiting.sid) == new


def test_fifo_template_workspace_routes_tasks_at_once(client: Client, services: Services) -> None:
    workspace = client.taskrouter.v1.workspaces.create(friendly_name="Fifo", template="FIFO")
    env = Env(client, services, workspace)
    (queue,) = env.ws.task_queues.list()
    (workflow,) = env.ws.workflows.list()
    assert workflow.friendly_name == "Default Fifo Workflow"
    assert queue.sid in workflow.configuration
    alice = env.worker("Alice")
    task = env.task(type="anything")
    assert (task.workflow_sid, task.task_queue_sid) == (workflow.sid, queue.sid)
    assert env.reserved_workers(task.sid) == [alice]


def test_events_of_a_tasks_life_in_order(env: Env) -> None:
    env.to_queue(env.queue("Q"))
    env.worker("Alice")
    task = env.task()
    env.accept(task.sid)
    env.ws.tasks(task.sid).update(assignment_status="wrapping")
    env.ws.tasks(task.sid).update(assignment_status="completed", reason="Resolved")
    assert env.events(task.sid) == [
        "task.created",
        "workflow.entered",
        "workflow.target-matched",
        "task-queue.entered",
        "reservation.created",
        "reservation.accepted",
        "task.wrapup",
        "reservation.wrapup",
        "task.completed",
        "reservation.completed",
    ]
    completed = [e for e in env.services.store.events.in_order(env.sid) if e.task_sid == task.sid]
    data = json.loads(completed[-2].data)
    assert (data["task_sid"], data["task_assignment_status"]) == (task.sid, "completed")
    assert data["task_completed_reason"] == "Resolved"


def test_a_target_priority_wins_over_an_updated_priority(env: Env) -> None:
    """Twilio: an updated Priority applies "unless it matches a Workflow Target with a
    Priority set"."""
    urgent, normal = env.queue("Urgent", "x == 1"), env.queue("Normal", "x == 2")
    env.workflow({"filters": [
        {"expression": "vip == true", "targets": [{"queue": urgent, "priority": 100}]},
        {"expression": "1==1", "targets": [{"queue": normal}]},
    ]})  # fmt: skip
    vip = env.ws.tasks.create(attributes='{"vip": true}')
    plain = env.ws.tasks.create(attributes='{"vip": false}')
    assert env.ws.tasks(vip.sid).update(priority=7).priority == 100
    assert env.ws.tasks(plain.sid).update(priority=7).priority == 7


def test_a_rerouted_task_that_matches_nothing_leaves_its_queue(env: Env) -> None:
    """Re-routing starts from the first filter: a task that now matches none (and there is no
    default_filter) waits outside any queue, where no worker of its old queue can take it."""
    sales = env.queue("Sales", "x == 1")
    env.workflow({"filters": [{"expression": "type == 'sales'", "targets": [{"queue": sales}]}]})
    task = env.task(type="sales")
    assert queue_of(env, task.sid) == sales
    env.ws.tasks(task.sid).update(attributes='{"type": "spam"}')
    assert queue_of(env, task.sid) is None
    assert env.ws.tasks.list(task_queue_sid=sales) == []
    env.worker("Seller", x=1)
    assert env.fetch(task.sid).assignment_status == "pending"


@pytest.mark.both_databases
def test_target_expressions_see_worker_channel_load(env: Env) -> None:
    """`worker.channel.<name>.assigned_tasks` and friends (behaviour.md §1.1) are computed for
    each worker: here a second task goes to the worker with nothing assigned yet."""
    q = env.queue("Chat")
    env.workflow({"filters": [{"expression": "1==1", "targets": [
        {"queue": q, "expression": "worker.channel.default.assigned_tasks == 0"}]}]})  # fmt: skip
    busy = env.worker("Busy")
    env.advance(1)
    for sid in (busy,):
        env.ws.workers(sid).worker_channels("default").update(capacity=2)
    first = env.task()
    assert env.reserved_workers(first.sid) == [busy]
    env.accept(first.sid)
    free = env.worker("Free")
    second = env.task()
    # Busy has room for another task, but the target admits only workers with none assigned.
    assert env.reserved_workers(second.sid) == [free]
    assert env.ws.workers(busy).worker_channels("default").fetch().assigned_tasks == 1
