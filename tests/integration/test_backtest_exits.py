"""The order-flow exits on the real ESH4 hour through `orderflow backtest` (the real CLI): every
closed trade names the reason its last execution was sent for, and the reasons of the trade
list add up to the report's exit counts; with every rule off the default figures are those of
tests/integration/test_backtest_cli.py. The figures with the rules on were read from one run
and checked against the trade list."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from tests.commands import Shared, run_cli
from tests.conftest import ES_MBO, need
from tests.integration.test_backtest_cli import backtest, esh4_backtest, reconcile

pytestmark = pytest.mark.slow

RULES = """
signals:
  pull: {enabled: true}
trading:
  strategy:
    exits: {cluster_pulled: true, absorption: exit, absorption_near_stop_ticks: 8,
            delta_divergence: true, divergence_min_delta: 20, imbalance_flip: 0.2}
"""


def reasons(out: Path) -> Counter[str]:
    with (out / "trades.csv").open() as fh:
        return Counter(row["reason"] for row in csv.DictReader(fh))


def test_with_every_rule_off_the_figures_and_reasons_are_the_defaults(shared: Shared) -> None:
    # the default settings' run, once per test run for the tests that read it
    res, out = esh4_backtest(shared)
    reconcile(res, out)
    s = res["stats"]
    assert (s["net_pnl"], s["trades"], s["fills"]) == (-453.12, 7, 14)
    assert res["signals"]["exits"] == {"opposite_signal": 6, "stop": 1}
    assert reasons(out) == res["signals"]["exits"]


def test_with_the_rules_on_each_exit_reason_reconciles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(RULES)
    monkeypatch.setenv("ORDERFLOW_CONFIG", str(config))
    out = tmp_path / "on"
    res = backtest(need(ES_MBO), out)
    reconcile(res, out)
    s = res["stats"]
    exits = res["signals"]["exits"]
    assert reasons(out) == exits  # every trade one bracket: the counts are the same
    assert exits == {"absorption_against": 1, "cluster_pulled": 1, "delta_divergence": 1,
                     "opposite_signal": 3, "stop": 1}  # fmt: skip
    assert (s["net_pnl"], s["trades"], s["fills"]) == (-390.62, 7, 15)
    assert res["signals"]["counts"]["pulling"] > 0  # the detector ran, its signals answered


def test_the_cluster_exit_without_the_pulling_detector_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("trading:\n  strategy:\n    exits: {cluster_pulled: true}\n")
    monkeypatch.setenv("ORDERFLOW_CONFIG", str(config))
    proc = run_cli("backtest", "--data", str(need(ES_MBO)), "--out", str(tmp_path / "x"),
                   "--json", check=False, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "trading.strategy.exits.cluster_pulled" in proc.stderr
    assert "signals.pull.enabled" in proc.stderr
