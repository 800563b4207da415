"""`orderflow signals evaluate` on the real ESH4 hour lists the pulling/stacking detector with
its intervals (the detector runs there whatever ``signals.pull.enabled`` says), with the same
counts as the detector run on its own."""

from __future__ import annotations

import pytest

from tests.commands import Shared
from tests.integration.test_cli import signals_evaluate_json

pytestmark = pytest.mark.slow


def test_signals_evaluate_lists_pulling_and_stacking_with_their_intervals(shared: Shared) -> None:
    # the command's run that tests/integration/test_cli.py reads too (once per test run)
    out = signals_evaluate_json(shared)
    assert (out["counts"]["pulling"], out["counts"]["stacking"]) == (37, 67)
    rows = {(r["detector"], r["horizon_s"]): r for r in out["rows"]}
    for kind in ("pulling", "stacking"):
        for h in (1, 5, 30, 60):
            r = rows[(kind, h)]
            assert r["n"] == r["hits"] + r["misses"] + r["ties"] > 0
            assert r["hit_rate_lo"] <= r["hit_rate"] <= r["hit_rate_hi"]
            assert r["mean_lo"] <= r["mean_ticks"] <= r["mean_hi"]
    pulling_5s = rows[("pulling", 5)]
    assert (pulling_5s["n"], pulling_5s["hits"], pulling_5s["misses"]) == (37, 11, 7)
