"""IntervalSet operations agree with Python sets of integers.

The set operations take a shortcut when one side has far fewer intervals than
the other (bisection into the larger side instead of walking it); both paths
must give the same, normalised result. The sizes drawn here reach both.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policycheck.engine.intervals import IntervalSet


def members(s: IntervalSet) -> set[int]:
    return {x for lo, hi in s for x in range(lo, hi + 1)}


def normalised(s: IntervalSet) -> bool:
    """Sorted, disjoint, not adjacent: what every operation must return."""
    iv = s.intervals
    return all(lo <= hi for lo, hi in iv) and all(
        iv[k][1] + 1 < iv[k + 1][0] for k in range(len(iv) - 1)
    )


def interval_sets(max_intervals: int) -> st.SearchStrategy[IntervalSet]:
    interval = st.tuples(st.integers(0, 300), st.integers(0, 6)).map(lambda t: (t[0], t[0] + t[1]))
    return st.lists(interval, max_size=max_intervals).map(IntervalSet)


@settings(max_examples=400, deadline=None)
@given(many=interval_sets(60), few=interval_sets(5))
def test_operations_match_integer_sets(many: IntervalSet, few: IntervalSet) -> None:
    for a, b in ((many, few), (few, many), (many, many), (few, few)):
        for result, expected in (
            (a & b, members(a) & members(b)),
            (a - b, members(a) - members(b)),
            (a | b, members(a) | members(b)),
        ):
            assert members(result) == expected
            assert normalised(result)
        assert a.covers(b) == (members(b) <= members(a))
