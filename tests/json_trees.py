"""Arbitrary JSON values and the paths into a document, for fuzzing the readers
(tests/test_inputs.py, tests/test_snapshot_reader.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(*, width: int, key_size: int, max_leaves: int, infinity: bool) -> Any:
    """Any JSON value (integers past 64 bits included), nested lists and objects of
    at most ``width`` members; ``infinity``: floats may be infinite."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=infinity)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=width)
            | st.dictionaries(st.text(max_size=key_size), children, max_size=width)
        ),
        max_leaves=max_leaves,
    )


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``node`` (keys and indexes), the empty path first."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found
