"""The expression language: the JSON corpus, explain(), references, order_by, caching, errors."""

from __future__ import annotations

import ast
import json
import pickle
import random
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from switchboard.expressions import (
    Explanation,
    ExpressionError,
    Failure,
    KeyRef,
    OrderClause,
    compile_expression,
    parse_order_by,
)
from switchboard.expressions import _compile_cached as compile_cache
from switchboard.expressions.evaluate import OPERATIONS

CORPUS_PATH = Path(__file__).parent / "expressions" / "corpus.json"
CORPUS: list[dict[str, Any]] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
CASES = [(group["given"], case) for group in CORPUS for case in group["cases"]]


@pytest.mark.parametrize(("given", "case"), CASES, ids=[case["expression"] for _, case in CASES])
def test_corpus(given: dict[str, Any], case: dict[str, Any]) -> None:
    text = case["expression"]
    if "error" in case:
        with pytest.raises(ExpressionError) as caught:
            compile_expression(text)
        error = caught.value
        assert error.position == case["error"]["position"], error.message
        assert case["error"]["message_contains"] in error.message
        assert error.expression == text
        return
    expression = compile_expression(text)
    assert expression.matches(given) is case["result"]
    # explain() walks the tree with the reference operators; it must agree with the fast path.
    explanation = expression.explain(given)
    assert explanation.matched is case["result"]
    assert bool(explanation.failures) is not case["result"]


def test_corpus_size_and_coverage() -> None:
    assert len(CASES) >= 200
    texts = " ".join(case["expression"] for _, case in CASES)
    for spelling in [
        "==",
        " = ",
        "!=",
        ">=",
        "<=",
        ">-",
        "<-",
        "CONTAINS",
        "HAS",
        " IN ",
        "NOT IN",
    ]:
        assert spelling in texts, spelling
    for lower in ["and", "or", "in", "not in", "has", "contains", "true", "null"]:
        assert f" {lower} " in texts.lower(), lower


# --- fast path vs reference ------------------------------------------------------------------

VALUES: list[Any] = [
    None, True, False, 0, 1, 2, 1.0, -3, 2.5, "2", "02", "2.5", "-3", "abc", "ABC", "", "a",
    "1e3", ["a", 1, "2"], [], [[1]], [None], [True], {"a": 1}, {},
]  # fmt: skip
LITERALS = [
    "null", "true", "false", "0", "1", "2.5", "-3", '"2"', '"abc"', '"a"', '""', '"-3"', "[]",
    '["a", "abc"]', '[1, "2", null]', "[true]", '["2", "x"]',
]  # fmt: skip


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_compiled_code_agrees_with_reference_operators(op: str) -> None:
    """Every specialised fast path equals the reference operator for every value shape."""
    for literal in LITERALS:
        constant = compile_expression(f"x == {literal}")._tree.right.value  # type: ignore[union-attr]
        constant = list(constant) if literal.startswith("[") else constant
        key_left = compile_expression(f"x {op} {literal}")
        key_right = compile_expression(f"{literal} {op} x")
        for value in VALUES:
            for doc in ({"x": value}, {}):
                actual = doc.get("x")
                assert key_left.matches(doc) is OPERATIONS[op](actual, constant), (
                    key_left.text,
                    doc,
                )
                assert key_right.matches(doc) is OPERATIONS[op](constant, actual), (
                    key_right.text,
                    doc,
                )


def test_key_against_key_uses_reference_operators() -> None:
    rng = random.Random(7)
    for op in OPERATIONS:
        expression = compile_expression(f"a.b {op} c[0]")
        for _ in range(200):
            left, right = rng.choice(VALUES), rng.choice(VALUES)
            doc = {"a": {"b": left}, "c": [right]}
            assert expression.matches(doc) is OPERATIONS[op](left, right)
            assert expression.explain(doc).matched is OPERATIONS[op](left, right)


def test_matches_never_raises_on_odd_json() -> None:
    odd: list[Any] = [
        float("nan"),
        float("inf"),
        10**400,
        "9" * 5000,
        "9" * 5000 + ".5",
        "²",
        [[[]]],
        {"b": {"c": [1, {"d": None}]}},
        "x" * 10_000,
    ]
    texts = [case["expression"] for _, case in CASES if "result" in case]
    texts += ["a.b.c[1].d == null", "a > 5", 'a >= "9"', "a IN [1, 2.5]", "a HAS 3"]
    for text in texts:
        expression = compile_expression(text)
        for value in odd:
            doc = {key: value for key in ("a", "level", "team", "skills", "x", "score", "task")}
            assert expression.matches(doc) is expression.explain(doc).matched


@pytest.mark.parametrize("doc", [[1, 2], "text", 3, None, True])
def test_document_that_is_not_an_object_has_no_keys(doc: Any) -> None:
    assert compile_expression("a == null AND 1 == 1").matches(doc) is True
    assert compile_expression("a == 1").matches(doc) is False
    (failure,) = compile_expression("a.b == 1").explain(doc).failures
    assert failure.reason == "the document is not an object"


def test_any_mapping_is_a_document() -> None:
    doc = MappingProxyType({"a": {"b": [1]}})
    assert compile_expression("a.b HAS 1").matches(doc)
    assert compile_expression("a.b HAS 1").explain(doc).matched


# --- explain -------------------------------------------------------------------------------


def test_explain_match_has_no_failures() -> None:
    explanation = compile_expression("level > 1").explain({"level": 2})
    assert explanation == Explanation(matched=True, failures=())
    assert explanation.format() == "match"
    assert explanation.to_dict() == {"matched": True, "failures": []}


def test_explain_single_failure() -> None:
    explanation = compile_expression("level > 3").explain({"level": 2})
    assert explanation.failures == (Failure("level > 3", 0, 2, 3, "2 is not greater than 3"),)
    assert explanation.format() == "no match: `level > 3` is false (2 is not greater than 3)"


def test_explain_and_reports_first_false_operand() -> None:
    expression = compile_expression('team == "sales" AND level >= 3 AND skills HAS "x"')
    explanation = expression.explain({"team": "sales", "level": 1, "skills": []})
    assert [f.text for f in explanation.failures] == ["level >= 3"]
    assert explanation.failures[0].position == 20
    assert explanation.failures[0].reason == "1 is not greater than or equal to 3"


def test_explain_or_reports_every_operand() -> None:
    expression = compile_expression('(skills HAS "support" OR team == "sales") AND level > 0')
    explanation = expression.explain({"skills": "support", "level": 5})
    assert [(f.text, f.reason) for f in explanation.failures] == [
        ('skills HAS "support"', "an array operator needs an array on the left"),
        ('team == "sales"', "key 'team' is missing"),
    ]
    assert explanation.failures[1].position == 25
    assert explanation.failures[1].left is None
    assert explanation.format() == (
        "no match:\n"
        '  `skills HAS "support"` is false (an array operator needs an array on the left)\n'
        "  `team == \"sales\"` is false (key 'team' is missing)"
    )


def test_explain_to_dict_is_json_ready() -> None:
    expression = compile_expression('lang IN ["en", "es"] OR tags HAS 1')
    data = expression.explain({"lang": "fr", "tags": ["1x"]}).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "matched": False,
        "failures": [
            {
                "text": 'lang IN ["en", "es"]',
                "position": 0,
                "left": "fr",
                "right": ["en", "es"],
                "reason": '"fr" is not in ["en", "es"]',
            },
            {
                "text": "tags HAS 1",
                "position": 24,
                "left": ["1x"],
                "right": 1,
                "reason": '["1x"] has no element equal to 1',
            },
        ],
    }


@pytest.mark.parametrize(
    ("text", "doc", "reason"),
    [
        ("a == 1", {"a": 2}, "2 is not equal to 1"),
        ("a != 1", {"a": 1}, "1 is equal to 1"),
        ("a == 1", {"a": [1]}, "'==' compares single values, not arrays (use HAS or IN)"),
        ("a > 1", {"a": True}, "true and 1 cannot be ordered (needs numbers or strings)"),
        ("a < 1", {"a": 1}, "1 is not less than 1"),
        ("a <= 0", {"a": 1}, "1 is not less than or equal to 0"),
        ('a CONTAINS "z"', {"a": "abc"}, '"abc" does not contain "z"'),
        ("a CONTAINS 1", {"a": "1"}, "CONTAINS needs a string on both sides"),
        ("a HAS [1]", {"a": [1]}, "HAS needs a single value on the right"),
        ("a IN 1", {"a": 1}, "IN needs an array on the right"),
        ("a IN [1]", {"a": [1]}, "IN needs a single value on the left"),
        ("a NOT IN [1]", {"a": 1}, "1 is in [1]"),
        ("a NOT IN 1", {"a": 2}, "NOT IN needs an array on the right"),
        ("a NOT IN [1]", {"a": [2]}, "NOT IN needs a single value on the left"),
        ("a.b.c == 1", {"a": {}}, "key 'a.b' is missing"),
        ("a.b.c == 1", {"a": {"b": 3}}, "'a.b' is not an object"),
        ("a[1] == 1", {"a": [0]}, "'a' has no element [1]"),
        ("a[0] == 1", {"a": "x"}, "'a' is not an array"),
        ("a != null", {}, "key 'a' is missing"),
        ("1 == 0", {}, "1 is not equal to 0"),
        ("a == 1", {"a": "x" * 100}, '"' + "x" * 56 + "... is not equal to 1"),
    ],
)
def test_explain_reasons(text: str, doc: dict[str, Any], reason: str) -> None:
    (failure,) = compile_expression(text).explain(doc).failures
    assert failure.reason == reason


# --- references ------------------------------------------------------------------------------


def test_references_in_order_of_appearance() -> None:
    expression = compile_expression(
        'worker.skills[0] == task.skill AND ("en" IN worker.languages OR worker.level > 2)'
        " AND worker.level < 9"
    )
    assert expression.references == (
        KeyRef(("worker", "skills", 0), "worker.skills[0]", 0),
        KeyRef(("task", "skill"), "task.skill", 20),
        KeyRef(("worker", "languages"), "worker.languages", 44),
        KeyRef(("worker", "level"), "worker.level", 64),
        KeyRef(("worker", "level"), "worker.level", 86),
    )


def test_references_empty_for_constant_expression() -> None:
    assert compile_expression("1 == 1").references == ()


def test_reference_text_is_normalised() -> None:
    (ref,) = compile_expression("a[007].b == 1").references
    assert ref == KeyRef(("a", 7, "b"), "a[7].b", 0)


# --- order_by --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("worker.level", (OrderClause(("level",), False),)),
        ("worker.level DESC", (OrderClause(("level",), True),)),
        ("worker.level asc", (OrderClause(("level",), False),)),
        (
            "worker.level Desc, worker.skills.rank ASC,worker.a[0]",
            (
                OrderClause(("level",), True),
                OrderClause(("skills", "rank"), False),
                OrderClause(("a", 0), False),
            ),
        ),
        ("  worker.in DESC  ", (OrderClause(("in",), True),)),
    ],
)
def test_parse_order_by(text: str, clauses: tuple[OrderClause, ...]) -> None:
    assert parse_order_by(text) == clauses


def test_parse_order_by_gives_one_tuple_per_text() -> None:
    """Workers keep their sort keys by the order_by's identity: workflows ordering by the
    same text must share it."""
    assert parse_order_by("worker.shared_rank DESC") is parse_order_by("worker.shared_rank DESC")


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "empty order_by"),
        ("   ", 0, "empty order_by"),
        ("level DESC", 0, "must start with 'worker.'"),
        ("task.level", 0, "must start with 'worker.'"),
        ("worker DESC", 6, "expected an attribute after 'worker.'"),
        ("worker[0]", 9, "expected an attribute after 'worker.'"),
        ("worker.level UP", 13, "expected ASC, DESC or ','"),
        ("worker.level DESC DESC", 18, "expected ASC, DESC or ','"),
        ("worker.level DESC worker.x", 18, "expected ASC, DESC or ','"),
        ("worker.level,", 13, "expected worker.<attribute>"),
        ("worker.level,,worker.x", 13, "expected worker.<attribute>"),
        ('"worker.level"', 0, "expected worker.<attribute>"),
        ("worker.front-desk", 12, "hyphens are not allowed"),
        ("worker.level DESC;", 17, "unexpected character ';'"),
    ],
)
def test_parse_order_by_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_order_by(text)
    assert caught.value.position == position
    assert message in caught.value.message
    assert caught.value.expression == text


# --- compile: cache, errors, limits ----------------------------------------------------------


def test_compile_is_cached_by_text() -> None:
    first = compile_expression("cached_key == 1")
    assert compile_expression("cached_key == 1") is first
    assert compile_expression("cached_key == 1 ") is not first
    assert compile_cache.cache_info().maxsize == 4096


def test_errors_are_not_cached() -> None:
    for _ in range(2):
        with pytest.raises(ExpressionError):
            compile_expression("level ==")


def test_expression_error_format() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression('team == "sales" AND AND')
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.message == "unexpected token 'AND'; expected a comparison after 'AND'"
    assert error.position == 20
    assert error.expression == 'team == "sales" AND AND'
    assert str(error) == f"{error.message} at column 21"
    assert str(ExpressionError("unterminated string", 0)) == "unterminated string at column 1"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.position, copy.expression) == (
        error.message,
        error.position,
        error.expression,
    )


def test_expression_repr_and_text() -> None:
    expression = compile_expression("a == 1")
    assert expression.text == "a == 1"
    assert repr(expression) == "Expression('a == 1')"
    assert "def _match(doc):" in expression.python_source


def test_nesting_limit() -> None:
    deep = "(" * 50 + "a == 1" + ")" * 50
    assert compile_expression(deep).matches({"a": 1})
    with pytest.raises(ExpressionError) as caught:
        compile_expression("(" * 51 + "a == 1" + ")" * 51)
    assert caught.value.position == 50
    assert "nested too deeply" in caught.value.message


def test_path_length_limit() -> None:
    path = ".".join(f"k{i}" for i in range(32))
    doc: Any = 1
    for i in reversed(range(32)):
        doc = {f"k{i}": doc}
    shorter = ".".join(f"k{i}" for i in range(31))
    text = "(" * 50 + f"{path} == 1 AND {shorter}[0] == null" + ")" * 50
    assert compile_expression(text).matches(doc)
    with pytest.raises(ExpressionError) as caught:
        compile_expression(f"x == 1 AND {path}.k32 == 1")
    assert (caught.value.position, caught.value.message) == (
        11,
        "key path is too long (limit 32 parts)",
    )


def test_long_flat_expressions_compile() -> None:
    text = " OR ".join(f"k{i} == {i}" for i in range(3000))
    expression = compile_expression(text)
    assert expression.matches({"k2999": 2999})
    assert not expression.matches({})
    assert len(expression.explain({}).failures) == 3000


def test_number_out_of_range() -> None:
    with pytest.raises(ExpressionError, match="out of range"):
        compile_expression("a == " + "1" * 5000)
    with pytest.raises(ExpressionError, match="out of range"):
        compile_expression("a == " + "1" * 400 + ".5")
    with pytest.raises(ExpressionError, match="out of range"):
        compile_expression("a[" + "1" * 5000 + "] == 1")


def test_module_imports_only_the_standard_library() -> None:
    package = Path(__file__).parents[1] / "switchboard" / "expressions"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, name
