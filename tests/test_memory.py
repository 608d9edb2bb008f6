"""The scan's memory policy: the cyclic collector pauses while the engine evaluates
(benchmarks/RESULTS.md: collections walked what evaluation keeps, for nothing)."""

from __future__ import annotations

import gc

import pytest

from policycheck.memory import evaluating


def test_evaluating_pauses_and_restores_the_collector() -> None:
    assert gc.isenabled()
    with evaluating():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), evaluating():
        raise RuntimeError("the evaluation failed")
    assert gc.isenabled()


def test_evaluating_leaves_a_paused_collector_paused() -> None:
    gc.disable()
    try:
        with evaluating():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_evaluation_kept_is_frozen_so_writing_reports_never_walks_it() -> None:
    gc.unfreeze()
    try:
        with pytest.raises(RuntimeError), evaluating():
            raise RuntimeError("a failed evaluation: nothing is frozen")
        assert gc.get_freeze_count() == 0
        kept: list[dict[str, int]] = []
        with evaluating():
            kept.extend({"finding": n} for n in range(1000))
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
