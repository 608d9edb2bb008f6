"""The test helper's GitHub expression evaluator agrees with GitHub's documented
semantics (docs.github.com, "Evaluate expressions in workflows and actions"), so
that conditions evaluated with it in test_github.py mean what they mean on GitHub."""

from __future__ import annotations

import pytest
from gha import Evaluator, condition, expand

CONTEXTS = {
    "github": {
        "event_name": "pull_request",
        "repository": "Acme/Infra",
        "event": {"pull_request": {"head": {"repo": {"full_name": "acme/infra"}}}},
    },
    "inputs": {"upload": "true", "empty": ""},
    "steps": {"scan": {"outputs": {"exit-code": "1"}}},
    "matrix": {"list": ["a", "b"]},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Literals and property access; missing properties are null.
        ("'It''s open source!'", "It's open source!"),
        ("github.event_name", "pull_request"),
        ("github['event_name']", "pull_request"),
        ("github.no.such.thing", None),
        ("GITHUB.EVENT_NAME", "pull_request"),  # property names ignore case
        ("matrix.list[1]", "b"),
        ("0x10", 16.0),
        ("-2.5e1", -25.0),
        # Strings compare ignoring case; different types compare as numbers.
        ("github.repository == 'acme/infra'", True),
        ("github.event.pull_request.head.repo.full_name == github.repository", True),
        ("steps.scan.outputs.exit-code != '0'", True),
        ("steps.scan.outputs.exit-code == 1", True),
        ("null == 0", True),
        ("'' == 0", True),
        ("'abc' == 0", False),  # NaN equals nothing
        ("true == 1", True),
        ("'2' < 10", True),
        # && and || return an operand, not a boolean.
        ("inputs.empty || 'fallback'", "fallback"),
        ("inputs.upload && 'yes'", "yes"),
        ("inputs.empty && 'yes'", ""),
        ("!inputs.empty", True),
        ("!(1 == 1) || false", False),
        # Functions.
        ("contains(matrix.list, 'A')", True),
        ("contains('Hello world', 'WORLD')", True),
        ("startsWith(github.repository, 'acme/')", True),
        ("format('{0}/{1}', 'a', 2)", "a/2"),
    ],
)
def test_expression(expression: str, expected: object) -> None:
    assert Evaluator(CONTEXTS).evaluate(expression) == expected


def test_template_expansion_stringifies_like_github() -> None:
    assert expand("x-${{ 1 == 1 }}-${{ github.no }}-${{ 3 }}", CONTEXTS) == "x-true--3"


def test_step_conditions_imply_success_unless_a_status_function_is_used() -> None:
    assert condition(None, CONTEXTS) is True
    assert condition(None, CONTEXTS, status="failure") is False
    assert condition("inputs.upload == 'true'", CONTEXTS, status="failure") is False
    assert condition("always() && inputs.upload == 'true'", CONTEXTS, status="failure") is True
    assert condition("${{ !cancelled() }}", CONTEXTS, status="failure") is True
    assert condition("${{ failure() }}", CONTEXTS, status="success") is False


@pytest.mark.parametrize("bad", ["a ==", "(1", "'open", "a.*.b", "nosuch()"])
def test_unsupported_or_malformed_expressions_are_errors_not_guesses(bad: str) -> None:
    with pytest.raises(ValueError):
        Evaluator(CONTEXTS).evaluate(bad)
