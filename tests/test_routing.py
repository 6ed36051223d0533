"""Workflow routing decisions: configuration validation, filter/target choice, sort orders."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from switchboard.expressions import OrderClause, compile_expression, parse_order_by
from switchboard.routing import (
    MAX_CONFIGURATION_BYTES,
    ConfigurationError,
    Step,
    Target,
    WorkflowConfig,
    filter_document,
    first_step,
    known_worker_admits,
    known_worker_value,
    next_step,
    order_key,
    parse_workflow_configuration,
    resolve,
    settle,
    should_skip,
    skip_document,
    target_document,
    task_sort_key,
    time_variables,
)

Q1 = "WQ" + "1" * 32
Q2 = "WQ" + "2" * 32
Q3 = "WQ" + "3" * 32
QD = "WQ" + "d" * 32
WA = "WA" + "b" * 32
WK = "WK" + "c" * 32
CREATED = 1_700_000_000_000

CASES_PATH = Path(__file__).parent / "routing" / "invalid_configurations.json"
INVALID: list[dict[str, Any]] = json.loads(CASES_PATH.read_text(encoding="utf-8"))


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def parse(document: Any) -> WorkflowConfig:
    return parse_workflow_configuration(json.dumps(document))


def workflow(
    filters: list[dict[str, Any]], default: dict[str, Any] | None = None
) -> WorkflowConfig:
    routing: dict[str, Any] = {"filters": filters}
    if default is not None:
        routing["default_filter"] = default
    return parse({"task_routing": routing})


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", INVALID, ids=[case["name"] for case in INVALID])
def test_invalid_configuration(case: dict[str, Any]) -> None:
    text = case["text"] if "text" in case else json.dumps(case["configuration"])
    with pytest.raises(ConfigurationError) as caught:
        parse_workflow_configuration(text)
    error = caught.value
    assert error.pointer == case["pointer"], str(error)
    assert case["message"] in error.message
    expected = f"{case['pointer']}: {error.message}" if case["pointer"] else error.message
    assert str(error) == expected


def test_invalid_cases_cover_every_part_of_a_target() -> None:
    pointers = " ".join(case["pointer"] for case in INVALID)
    for key in [
        "queue",
        "priority",
        "timeout",
        "expression",
        "order_by",
        "skip_if",
        "known_worker_sid",
        "known_worker_friendly_name",
        "task_queue_sid",
        "filter_friendly_name",
        "targets",
        "default_filter",
    ]:
        assert f".{key}" in pointers, key


def test_configuration_error_is_a_value_error_naming_its_place() -> None:
    error = ConfigurationError("must be a list", "task_routing.filters")
    assert isinstance(error, ValueError)
    assert (error.message, error.pointer) == ("must be a list", "task_routing.filters")
    assert str(error) == "task_routing.filters: must be a list"
    assert str(ConfigurationError("invalid JSON")) == "invalid JSON"


def test_size_limit_counts_utf8_bytes() -> None:
    base = json.dumps({"task_routing": {"default_filter": {"queue": Q1}}})
    at_limit = base + " " * (MAX_CONFIGURATION_BYTES - len(base))
    assert parse_workflow_configuration(at_limit).default_filter is not None
    with pytest.raises(ConfigurationError) as caught:
        parse_workflow_configuration(at_limit + " ")
    assert str(caught.value) == (
        f"the configuration is {MAX_CONFIGURATION_BYTES + 1} bytes; "
        f"the limit is {MAX_CONFIGURATION_BYTES} bytes"
    )
    # "é" is two bytes in UTF-8: the same number of characters is over the limit.
    with pytest.raises(ConfigurationError, match="bytes; the limit"):
        parse_workflow_configuration(base[:-1] + "é" * (MAX_CONFIGURATION_BYTES - len(base)) + "}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
        ('{"task_routing": ' + "1" * 5000 + "}", "invalid JSON: a number has too many digits"),
    ],
    ids=["deep nesting", "huge number"],
)
def test_hostile_json_is_a_configuration_error(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_workflow_configuration(text)
    assert str(caught.value) == message


def test_error_text_is_always_encodable() -> None:
    # "\\ud800" in JSON is a lone surrogate; the error must still encode as UTF-8.
    text = '{"task_routing": {"default_filter": {"queue": "\\ud800", "\\udc00": 1}}}'
    with pytest.raises(ConfigurationError) as caught:
        parse_workflow_configuration(text)
    assert str(caught.value).encode("utf-8") == (
        b"task_routing.default_filter.\\udc00: unknown key; the default_filter takes queue, "
        b"priority, expression, order_by, skip_if, known_worker_sid, known_worker_friendly_name, "
        b"task_queue_sid"
    )


def test_twilio_documentation_example() -> None:
    config = parse(
        {
            "task_routing": {
                "filters": [
                    {
                        "filter_friendly_name": "Support Calls",
                        "expression": 'type=="Support"',
                        "targets": [
                            {
                                "queue": Q1,
                                "timeout": 15,
                                "expression": "worker.id IN task.preferred_agents",
                            },
                            {"timeout": 15},
                        ],
                    },
                    {
                        "filter_friendly_name": "Sales Calls",
                        "expression": 'type=="Sales"',
                        "targets": [{"queue": Q2, "timeout": 15}],
                    },
                ],
                "default_filter": {"queue": QD},
            }
        }
    )
    support, sales = config.filters
    assert (support.name, sales.name) == ("Support Calls", "Sales Calls")
    first, second = support.targets
    assert first.expression is not None
    assert first.expression.text == "worker.id IN task.preferred_agents"
    # The second target inherits the queue, but not the expression.
    assert (second.queue_sid, second.timeout, second.expression) == (Q1, 15, None)
    assert config.default_filter == Target(QD, None, None, None, (), None, None, None)
    assert config.queue_sids == frozenset({Q1, Q2, QD})


def test_every_target_key_compiles() -> None:
    config = workflow(
        [
            {
                "expression": "taskrouter.dayOfWeek == 'Mon' AND vip == true",
                "targets": [
                    {
                        "queue": Q1,
                        "priority": "7",
                        "timeout": "30",
                        "expression": "task.lang IN worker.langs AND taskrouter.currentHour > 8",
                        "order_by": "worker.level DESC, worker.exp",
                        "skip_if": f"workers.available == 0 OR workers.{WA} > 2",
                        "known_worker_sid": " task.agents[1].sid ",
                    },
                    {"queue": Q2, "known_worker_friendly_name": "task.agent_name"},
                ],
            }
        ]
    )
    first, second = config.filters[0].targets
    assert (first.priority, first.timeout) == (7, 30)
    assert first.order_by == (OrderClause(("level",), True), OrderClause(("exp",), False))
    assert first.skip_if is not None
    assert first.skip_if.text.startswith("workers.available == 0")
    assert first.known_worker_sid == ("agents", 1, "sid")
    assert first.known_worker_friendly_name is None
    assert second.known_worker_friendly_name == ("agent_name",)
    assert second.known_worker_sid is None
    assert (second.priority, second.timeout, second.order_by, second.skip_if) == (
        None,
        None,
        (),
        None,
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [(10, 10), ("10", 10), (10.0, 10), ("0010", 10), (0, 0), ("2147483647", 2147483647)],
)
def test_priority_as_number_or_string(given: Any, expected: int) -> None:
    target = workflow([{"expression": "1==1", "targets": [{"queue": Q1, "priority": given}]}])
    assert target.filters[0].targets[0].priority == expected


@pytest.mark.parametrize(
    ("given", "expected"), [(10, 10), ("10", 10), (1, 1), (300.0, 300), ("86400", 86400)]
)
def test_timeout_as_number_or_string(given: Any, expected: int) -> None:
    target = workflow([{"expression": "1==1", "targets": [{"queue": Q1, "timeout": given}]}])
    assert target.filters[0].targets[0].timeout == expected


def test_queue_is_inherited_down_a_filter() -> None:
    config = workflow(
        [
            {
                "expression": "1==1",
                "targets": [{"queue": Q1, "timeout": 5}, {"timeout": 5}, {"queue": Q2}, {}],
            }
        ]
    )
    assert [t.queue_sid for t in config.filters[0].targets] == [Q1, Q1, Q2, Q2]


def test_null_means_absent() -> None:
    config = parse(
        {
            "task_routing": {
                "filters": [
                    {
                        "filter_friendly_name": None,
                        "expression": "1==1",
                        "targets": [
                            {"queue": Q1, "timeout": 5},
                            {
                                "queue": None,
                                "priority": None,
                                "timeout": None,
                                "expression": None,
                                "order_by": None,
                                "skip_if": None,
                                "known_worker_sid": None,
                                "known_worker_friendly_name": None,
                            },
                        ],
                    }
                ],
                "default_filter": {"queue": QD, "timeout": None},
            }
        }
    )
    assert config.filters[0].name == ""
    assert config.filters[0].targets[1] == Target(Q1, None, None, None, (), None, None, None)
    assert config.default_filter is not None
    assert config.default_filter.timeout is None
    assert parse({"task_routing": {"filters": None, "default_filter": None}}) == WorkflowConfig(
        (), None, frozenset()
    )


def test_minimal_configurations() -> None:
    only_default = parse({"task_routing": {"default_filter": {"queue": QD}}})
    assert only_default.filters == ()
    assert only_default.queue_sids == frozenset({QD})
    empty = parse({"task_routing": {}})
    assert (empty.filters, empty.default_filter, empty.queue_sids) == ((), None, frozenset())
    assert parse({"task_routing": {"filters": []}}).filters == ()


def test_filter_name_spellings() -> None:
    config = workflow(
        [
            {"friendly_name": "Old helper", "expression": "1==1", "targets": [{"queue": Q1}]},
            {
                "filter_friendly_name": "Wins",
                "friendly_name": "Ignored",
                "expression": "1==1",
                "targets": [{"queue": Q1}],
            },
            {"expression": "1==1", "targets": [{"queue": Q1}]},
        ]
    )
    assert [f.name for f in config.filters] == ["Old helper", "Wins", ""]


def test_default_filter_legacy_queue_and_target_keys() -> None:
    legacy = parse({"task_routing": {"default_filter": {"task_queue_sid": QD}}})
    assert legacy.default_filter is not None
    assert legacy.default_filter.queue_sid == QD
    assert legacy.queue_sids == frozenset({QD})
    config = parse(
        {
            "task_routing": {
                "default_filter": {
                    "queue": QD,
                    "priority": "3",
                    "expression": "worker.level >= task.level",
                    "order_by": "worker.level",
                    "skip_if": "workers.available == 0",
                    "known_worker_friendly_name": "task.agent",
                }
            }
        }
    )
    default = config.default_filter
    assert default is not None
    assert (default.priority, default.timeout) == (3, None)
    assert default.order_by == (OrderClause(("level",), False),)
    assert default.known_worker_friendly_name == ("agent",)


def test_sid_hex_may_be_upper_case() -> None:
    upper = "WQ" + "ABCDEF0123456789" * 2
    assert parse({"task_routing": {"default_filter": {"queue": upper}}}).queue_sids == {upper}


def test_filter_expressions_use_bare_task_keys() -> None:
    config = workflow(
        [
            {
                "expression": "type == 'sales' AND task.x == 1 AND worker == 2",
                "targets": [{"queue": Q1}],
            }
        ]
    )
    assert config.filters[0].expression.matches({"type": "sales", "task": {"x": 1}, "worker": 2})


# -- time variables and documents -------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (ms(2024, 1, 1, 8, 5), (805, "08", "05", "Mon")),
        (ms(2024, 1, 2, 0, 0), (0, "00", "00", "Tue")),
        (ms(2024, 1, 3, 12, 30, 59) + 999, (1230, "12", "30", "Wed")),
        (ms(2024, 1, 4, 9, 0), (900, "09", "00", "Thu")),
        (ms(2024, 1, 5, 17, 45), (1745, "17", "45", "Fri")),
        (ms(2024, 1, 6, 10, 1), (1001, "10", "01", "Sat")),
        (ms(2024, 1, 7, 23, 59, 59) + 999, (2359, "23", "59", "Sun")),
        (0, (0, "00", "00", "Thu")),
        (ms(1969, 12, 31, 23, 30), (2330, "23", "30", "Wed")),
        (ms(2024, 2, 29, 18, 30), (1830, "18", "30", "Thu")),
    ],
)
def test_time_variables(now: int, expected: tuple[int, str, str, str]) -> None:
    current_time, hour, minute, day = expected
    assert time_variables(now) == {
        "currentTime": current_time,
        "currentHour": hour,
        "currentMin": minute,
        "dayOfWeek": day,
    }


@pytest.mark.parametrize(
    ("now", "expression", "matches"),
    [
        (
            ms(2024, 1, 1, 8, 5),
            "taskrouter.currentTime > 0800 AND taskrouter.currentTime < 1830",
            True,
        ),
        (
            ms(2024, 1, 1, 7, 59),
            "taskrouter.currentTime > 0800 AND taskrouter.currentTime < 1830",
            False,
        ),
        (ms(2024, 1, 1, 18, 30), "taskrouter.currentTime < 1830", False),
        (ms(2024, 1, 1, 8, 5), "taskrouter.dayOfWeek IN ['Sat', 'Sun']", False),
        (ms(2024, 1, 6, 8, 5), "taskrouter.dayOfWeek IN ['Sat', 'Sun']", True),
        (ms(2024, 1, 1, 8, 5), "taskrouter.currentHour >= 8 AND taskrouter.currentMin == 5", True),
        (ms(2024, 1, 1, 8, 5), "taskrouter.currentHour == '08'", True),
    ],
)
def test_time_of_day_filters(now: int, expression: str, matches: bool) -> None:
    assert compile_expression(expression).matches(filter_document({}, now)) is matches


def test_filter_document_adds_time_and_reserves_the_namespace() -> None:
    attributes = {"type": "sales", "taskrouter": {"currentTime": 1}}
    doc = filter_document(attributes, ms(2024, 1, 1, 8, 5))
    assert doc == {"type": "sales", "taskrouter": time_variables(ms(2024, 1, 1, 8, 5))}
    assert attributes["taskrouter"] == {"currentTime": 1}  # the input is not changed


def test_target_document() -> None:
    task = {"lang": "fr"}
    worker = {"sid": WK, "langs": ["fr", "en"]}
    doc = target_document(task, worker, ms(2024, 1, 1, 8, 5))
    assert doc == {
        "task": task,
        "worker": worker,
        "taskrouter": time_variables(ms(2024, 1, 1, 8, 5)),
    }
    expression = compile_expression("task.lang IN worker.langs AND taskrouter.currentTime >= 800")
    assert expression.matches(doc)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("a",), 1),
        (("b", "c"), [10, 20]),
        (("b", "c", 1), 20),
        (("b", "c", 2), None),
        (("b", "missing"), None),
        (("a", "x"), None),
        (("a", 0), None),
        (("b", "c", 0, "x"), None),
    ],
)
def test_resolve(path: tuple[str | int, ...], value: Any) -> None:
    assert resolve({"a": 1, "b": {"c": [10, 20]}}, path) == value


# -- first_step / next_step -------------------------------------------------------------------


def three_filters(default: bool = True) -> WorkflowConfig:
    return workflow(
        [
            {
                "filter_friendly_name": "vip",
                "expression": "vip == true",
                "targets": [
                    {"queue": Q1, "timeout": 10},
                    {"timeout": 20},
                    {"queue": Q2, "timeout": 30},
                ],
            },
            {"expression": "type == 'sales'", "targets": [{"queue": Q2, "timeout": 60}]},
            {"expression": "1 == 1", "targets": [{"queue": Q3, "timeout": 5}, {"queue": Q1}]},
        ],
        {"queue": QD} if default else None,
    )


def test_first_step_takes_the_first_matching_filter() -> None:
    config = three_filters()
    vip_sales = first_step(config, {"vip": True, "type": "sales"}, CREATED)
    assert vip_sales == Step(0, 0, config.filters[0].targets[0], CREATED + 10_000)
    sales = first_step(config, {"type": "sales"}, CREATED)
    assert sales == Step(1, 0, config.filters[1].targets[0], CREATED + 60_000)
    other = first_step(config, {}, CREATED)
    assert other is not None
    assert (other.filter_index, other.target.queue_sid) == (2, Q3)


def test_first_step_falls_into_the_default_filter() -> None:
    config = workflow([{"expression": "vip == true", "targets": [{"queue": Q1}]}], {"queue": QD})
    assert config.default_filter is not None
    assert first_step(config, {"vip": False}, CREATED) == Step(None, 0, config.default_filter, None)
    terminal = first_step(config, {"vip": True}, CREATED)
    assert terminal == Step(0, 0, config.filters[0].targets[0], None)


def test_first_step_with_nowhere_to_go() -> None:
    config = workflow([{"expression": "vip == true", "targets": [{"queue": Q1}]}])
    assert first_step(config, {}, CREATED) is None
    assert first_step(parse({"task_routing": {}}), {}, CREATED) is None


def test_time_of_day_routing_through_filter_document() -> None:
    config = workflow(
        [
            {
                "expression": "taskrouter.dayOfWeek IN ['Sat','Sun']",
                "targets": [{"queue": Q2}],
            },
            {"expression": "1==1", "targets": [{"queue": Q1}]},
        ]
    )
    saturday = first_step(config, filter_document({}, ms(2024, 1, 6, 9, 0)), CREATED)
    monday = first_step(config, filter_document({}, ms(2024, 1, 1, 9, 0)), CREATED)
    assert saturday is not None and monday is not None
    assert (saturday.target.queue_sid, monday.target.queue_sid) == (Q2, Q1)


@pytest.mark.parametrize("skipped", [False, True])
def test_next_target_of_the_same_filter_with_cumulative_deadlines(skipped: bool) -> None:
    config = three_filters()
    doc = {"vip": True}
    step = first_step(config, doc, CREATED)
    assert step is not None
    second = next_step(config, doc, step, CREATED, skipped=skipped)
    assert second == Step(0, 1, config.filters[0].targets[1], CREATED + 30_000)
    assert second.target.queue_sid == Q1  # inherited
    third = next_step(config, doc, second, CREATED, skipped=skipped)
    assert third == Step(0, 2, config.filters[0].targets[2], CREATED + 60_000)


def test_after_the_last_target_the_next_later_matching_filter() -> None:
    config = three_filters()
    doc = {"vip": True, "type": "sales"}
    last = Step(0, 2, config.filters[0].targets[2], CREATED + 60_000)
    moved = next_step(config, doc, last, CREATED, skipped=False)
    # Deadlines in a later filter count from the task's creation too.
    assert moved == Step(1, 0, config.filters[1].targets[0], CREATED + 60_000)
    # Non-matching later filters are passed over.
    not_sales = next_step(config, {"vip": True}, last, CREATED, skipped=False)
    assert not_sales is not None
    assert (not_sales.filter_index, not_sales.target_index) == (2, 0)


def test_earlier_filters_are_never_revisited() -> None:
    config = workflow(
        [
            {"expression": "1==1", "targets": [{"queue": Q1, "timeout": 5}]},
            {"expression": "1==1", "targets": [{"queue": Q2, "timeout": 5}]},
        ],
        {"queue": QD},
    )
    step = first_step(config, {}, CREATED)
    assert step is not None
    step = next_step(config, {}, step, CREATED, skipped=False)
    assert step is not None and step.filter_index == 1
    assert next_step(config, {}, step, CREATED, skipped=False) is None


def test_timing_out_of_the_filters_never_reaches_the_default_filter() -> None:
    config = workflow(
        [{"expression": "vip == true", "targets": [{"queue": Q1, "timeout": 10}]}], {"queue": QD}
    )
    last = Step(0, 0, config.filters[0].targets[0], CREATED + 10_000)
    assert next_step(config, {"vip": True}, last, CREATED, skipped=False) is None


def test_skipping_out_of_the_filters_falls_into_the_default_filter() -> None:
    config = workflow(
        [{"expression": "vip == true", "targets": [{"queue": Q1, "skip_if": "1==1"}]}],
        {"queue": QD},
    )
    assert config.default_filter is not None
    last = Step(0, 0, config.filters[0].targets[0], None)
    skipped = next_step(config, {"vip": True}, last, CREATED, skipped=True)
    assert skipped == Step(None, 0, config.default_filter, None)


def test_skipping_out_with_no_default_filter_removes_the_task() -> None:
    config = workflow([{"expression": "1==1", "targets": [{"queue": Q1, "skip_if": "1==1"}]}])
    last = Step(0, 0, config.filters[0].targets[0], None)
    assert next_step(config, {}, last, CREATED, skipped=True) is None


def test_skipping_out_prefers_a_later_matching_filter_to_the_default() -> None:
    config = three_filters()
    last = Step(0, 2, config.filters[0].targets[2], CREATED + 60_000)
    step = next_step(config, {"vip": True}, last, CREATED, skipped=True)
    assert step is not None and step.filter_index == 2


def test_only_the_last_move_decides_about_the_default_filter() -> None:
    config = workflow(
        [
            {"expression": "1==1", "targets": [{"queue": Q1, "timeout": 10}]},
            {"expression": "1==1", "targets": [{"queue": Q2, "skip_if": "1==1"}]},
        ],
        {"queue": QD},
    )
    step = first_step(config, {}, CREATED)
    assert step is not None
    step = next_step(config, {}, step, CREATED, skipped=False)  # timed out of filter 0
    assert step is not None and step.filter_index == 1
    step = next_step(config, {}, step, CREATED, skipped=True)  # skipped out of filter 1
    assert step is not None and step.filter_index is None


@pytest.mark.parametrize("skipped", [False, True])
def test_nothing_follows_the_default_filter(skipped: bool) -> None:
    config = three_filters()
    assert config.default_filter is not None
    default = Step(None, 0, config.default_filter, None)
    assert next_step(config, {"vip": True}, default, CREATED, skipped=skipped) is None


def test_a_terminal_target_adds_nothing_to_later_deadlines() -> None:
    config = workflow(
        [
            {
                "expression": "1==1",
                "targets": [{"queue": Q1, "skip_if": "workers.available == 0"}, {"timeout": 10}],
            }
        ]
    )
    step = first_step(config, {}, CREATED)
    assert step is not None and step.deadline_ms is None
    after_skip = next_step(config, {}, step, CREATED, skipped=True)
    assert after_skip == Step(0, 1, config.filters[0].targets[1], CREATED + 10_000)


def test_steps_from_an_older_configuration_are_tolerated() -> None:
    config = workflow([{"expression": "1==1", "targets": [{"queue": Q1}]}], {"queue": QD})
    target = config.filters[0].targets[0]
    gone_filter = Step(5, 0, target, None)
    assert next_step(config, {}, gone_filter, CREATED, skipped=False) is None
    fallback = next_step(config, {}, gone_filter, CREATED, skipped=True)
    assert fallback is not None and fallback.filter_index is None
    gone_target = Step(0, 7, target, None)
    assert next_step(config, {}, gone_target, CREATED, skipped=False) is None


# -- settle -----------------------------------------------------------------------------------


def test_settle_passes_over_expired_targets() -> None:
    config = workflow(
        [
            {
                "expression": "1==1",
                "targets": [{"queue": Q1, "timeout": 10}, {"timeout": 20}, {"timeout": 30}],
            }
        ]
    )
    first = first_step(config, {}, CREATED)
    assert settle(config, {}, first, CREATED, CREATED + 9_999) == first
    # A target expires when the task's age reaches the cumulative timeout.
    at_deadline = settle(config, {}, first, CREATED, CREATED + 10_000)
    assert at_deadline is not None and at_deadline.target_index == 1
    late = settle(config, {}, first, CREATED, CREATED + 35_000)
    assert late == Step(0, 2, config.filters[0].targets[2], CREATED + 60_000)
    assert settle(config, {}, first, CREATED, CREATED + 60_000) is None


def test_settle_in_a_later_filter_counts_from_creation() -> None:
    config = workflow(
        [
            {"expression": "1==1", "targets": [{"queue": Q1, "timeout": 10}]},
            {
                "expression": "1==1",
                "targets": [{"queue": Q2, "timeout": 5}, {"timeout": 20}, {"queue": Q3}],
            },
        ]
    )
    first = first_step(config, {}, CREATED)
    assert first is not None
    moved = next_step(config, {}, first, CREATED, skipped=False)
    assert moved == Step(1, 0, config.filters[1].targets[0], CREATED + 5_000)
    settled = settle(config, {}, moved, CREATED, CREATED + 10_000)
    assert settled == Step(1, 1, config.filters[1].targets[1], CREATED + 25_000)
    terminal = settle(config, {}, moved, CREATED, CREATED + 10**9)
    assert terminal == Step(1, 2, config.filters[1].targets[2], None)


def test_settle_leaves_terminal_steps_and_none_alone() -> None:
    config = three_filters()
    assert config.default_filter is not None
    default = Step(None, 0, config.default_filter, None)
    assert settle(config, {}, default, CREATED, CREATED + 10**12) == default
    assert settle(config, {}, None, CREATED, CREATED) is None


# -- skip_if ----------------------------------------------------------------------------------


def test_skip_document_shape() -> None:
    doc = skip_document(2, 5, {WA: 4, "available": 99})
    assert doc == {"workers": {WA: 4, "available": 2, "unavailable": 5}}


@pytest.mark.parametrize(
    ("skip_if", "counts", "skips"),
    [
        (None, (0, 3, {}), False),
        ("workers.available == 0", (0, 3, {}), True),
        ("workers.available == 0", (1, 3, {}), False),
        ("1==1", (5, 0, {}), True),
        (f"workers.{WA} > 2", (0, 3, {WA: 3}), True),
        (f"workers.{WA} > 2", (0, 3, {}), False),
        ("workers.available < 1 AND workers.unavailable > 2", (0, 3, {}), True),
    ],
)
def test_should_skip(
    skip_if: str | None, counts: tuple[int, int, dict[str, int]], skips: bool
) -> None:
    target_doc: dict[str, Any] = {"queue": Q1}
    if skip_if is not None:
        target_doc["skip_if"] = skip_if
    config = workflow([{"expression": "1==1", "targets": [target_doc]}])
    available, unavailable, by_activity = counts
    target = config.filters[0].targets[0]
    assert should_skip(target, available, unavailable, by_activity) is skips


# -- known workers ----------------------------------------------------------------------------


def known(key: str, path: str) -> Target:
    return (
        workflow([{"expression": "1==1", "targets": [{"queue": Q1, key: path}]}])
        .filters[0]
        .targets[0]
    )


@pytest.mark.parametrize(
    ("attributes", "value", "admits"),
    [
        ({"agent_sid": WK}, WK, True),
        ({"agent_sid": "WK" + "e" * 32}, "WK" + "e" * 32, False),
        ({}, None, False),
        ({"agent_sid": None}, None, False),
        ({"agent_sid": ""}, None, False),
        ({"agent_sid": 7}, None, False),
        ({"agent_sid": [WK]}, None, False),
    ],
)
def test_known_worker_sid(attributes: dict[str, Any], value: str | None, admits: bool) -> None:
    target = known("known_worker_sid", "task.agent_sid")
    assert known_worker_value(target, attributes) == value
    assert known_worker_admits(target, attributes, WK, "Alice") is admits


def test_known_worker_nested_path() -> None:
    target = known("known_worker_sid", "task.routing.agents[1]")
    attributes = {"routing": {"agents": ["WKother", WK]}}
    assert known_worker_value(target, attributes) == WK
    assert known_worker_admits(target, attributes, WK, "Alice")


@pytest.mark.parametrize(
    ("name", "admits"), [("Alice", True), ("alice", True), ("ALICE", True), ("Alicia", False)]
)
def test_known_worker_friendly_name(name: str, admits: bool) -> None:
    target = known("known_worker_friendly_name", "task.agent")
    assert known_worker_value(target, {"agent": name}) == name
    assert known_worker_admits(target, {"agent": name}, WK, "Alice") is admits
    # The SID does not stand in for a friendly name.
    assert not known_worker_admits(target, {"agent": WK}, WK, "Alice")


def test_no_known_worker_admits_everyone() -> None:
    target = workflow([{"expression": "1==1", "targets": [{"queue": Q1}]}]).filters[0].targets[0]
    assert known_worker_value(target, {"agent_sid": WK}) is None
    assert known_worker_admits(target, {}, WK, "Alice")


# -- order_by ---------------------------------------------------------------------------------


def ranked(order_by: str, workers: dict[str, dict[str, Any]]) -> list[str]:
    clauses = parse_order_by(order_by)
    return sorted(workers, key=lambda name: (order_key(clauses, workers[name]), name))


def test_order_by_desc_puts_workers_lacking_the_value_last() -> None:
    workers: dict[str, dict[str, Any]] = {
        "a": {"level": 3},
        "b": {"level": 9},
        "c": {},
        "d": {"level": 5},
        "e": {"level": None},
    }
    assert ranked("worker.level DESC", workers) == ["b", "d", "a", "c", "e"]
    assert ranked("worker.level ASC", workers) == ["a", "d", "b", "c", "e"]
    assert ranked("worker.level", workers) == ["a", "d", "b", "c", "e"]


def test_order_by_mixed_directions_break_ties_in_order() -> None:
    workers: dict[str, dict[str, Any]] = {
        "a": {"level": 5, "exp": 3},
        "b": {"level": 5, "exp": 1},
        "c": {"level": 7, "exp": 9},
        "d": {"level": 5},
        "e": {"exp": 0},
    }
    assert ranked("worker.level DESC, worker.exp ASC", workers) == ["c", "b", "a", "d", "e"]
    assert ranked("worker.exp DESC, worker.level ASC", workers) == ["c", "a", "b", "e", "d"]


@pytest.mark.parametrize(
    "value", [True, False, "5", "high", [5], {"v": 5}, None, float("nan"), float("inf")]
)
def test_order_by_non_numbers_count_as_lacking(value: Any) -> None:
    clauses = parse_order_by("worker.level DESC")
    assert order_key(clauses, {"level": value}) == order_key(clauses, {})
    assert order_key(clauses, {"level": -100}) < order_key(clauses, {"level": value})


def test_order_by_floats_and_nested_paths() -> None:
    workers: dict[str, dict[str, Any]] = {
        "a": {"skill": {"score": 2.5}},
        "b": {"skill": {"score": 3}},
        "c": {"skill": {"score": -1.25}},
        "d": {"skill": "none"},
    }
    assert ranked("worker.skill.score DESC", workers) == ["b", "a", "c", "d"]
    assert ranked("worker.skill.score", workers) == ["c", "a", "b", "d"]


def test_order_by_indexes_and_no_clauses() -> None:
    clauses = parse_order_by("worker.scores[1] DESC")
    assert order_key(clauses, {"scores": [0, 4]}) < order_key(clauses, {"scores": [9, 2]})
    assert order_key((), {"level": 1}) == ()


# -- task order -------------------------------------------------------------------------------


def test_fifo_orders_by_priority_then_age_then_sid() -> None:
    tasks = [
        ("WT3", 0, 1_000),
        ("WT1", 5, 3_000),
        ("WT2", 5, 2_000),
        ("WT5", 0, 1_000),
        ("WT4", 10, 9_000),
    ]
    order = sorted(tasks, key=lambda t: task_sort_key(t[1], t[2], t[0], False))
    assert [sid for sid, _, _ in order] == ["WT4", "WT2", "WT1", "WT3", "WT5"]


def test_lifo_takes_the_newest_and_ignores_priority() -> None:
    tasks = [("WT1", 100, 1_000), ("WT2", 0, 3_000), ("WT3", 5, 2_000), ("WT0", 0, 3_000)]
    order = sorted(tasks, key=lambda t: task_sort_key(t[1], t[2], t[0], True))
    assert [sid for sid, _, _ in order] == ["WT0", "WT2", "WT3", "WT1"]


def test_task_sort_keys_are_comparable_across_kinds() -> None:
    # Same shape, so a mixed sort never raises (PrioritizeQueueOrder decides the kind first).
    assert sorted([task_sort_key(1, 5, "WTa", True), task_sort_key(1, 5, "WTb", False)])


# -- purity -----------------------------------------------------------------------------------


def test_routing_imports_only_expressions_models_and_the_stdlib() -> None:
    package = Path(__file__).parent.parent / "switchboard" / "routing"
    allowed = {"switchboard.expressions", "switchboard.models"}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("switchboard"):
                    assert name in allowed, f"{path.name} imports {name}"
                else:
                    assert name.split(".")[0] in {
                        "__future__",
                        "collections",
                        "dataclasses",
                        "json",
                        "math",
                        "re",
                        "typing",
                    }, f"{path.name} imports {name}"
