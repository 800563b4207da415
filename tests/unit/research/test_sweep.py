"""Sweeps: jobs are plain data, deterministic, and a parallel sweep (processes or Ray) gives
exactly what the same jobs give one by one in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from orderflow.core.errors import ConfigError
from orderflow.research.study import SweepSpec, load_spec, parse_values, run_sweep
from orderflow.research.sweep import (
    SweepJob,
    check_job,
    comparable,
    grid_jobs,
    job_settings,
    random_jobs,
    rank,
    run_job,
    run_jobs,
)
from tests.conftest import ES_MBO, need

STOP = "trading.strategy.stop_loss_ticks"
SCORE = "trading.strategy.entry_score"
#: 4 x 2 = 8 parameter sets that trade differently on the ESH4 hour (7 or 6 trades, net
#: P&L from -453 to -101 with the default strategy)
GRID = {STOP: [6, 8, 12, 16], SCORE: [1.0, 1.5]}


def fake_job(job: dict[str, Any]) -> dict[str, Any]:
    """A stand-in job (importable by the workers): its stats are a function of its overrides."""
    ov = job["overrides"]
    return {"index": job["index"], "overrides": ov, "stats": {"net_pnl": ov["a"] * 10 - ov["b"]},
            "commands": ov["a"], "fills": ov["b"], "seconds": 0.0, "error": None}  # fmt: skip


def test_grid_is_the_product_last_key_fastest() -> None:
    jobs = grid_jobs(["x.dbn"], {"a": [1, 2], "b": ["p", "q", "r"]}, seed=5)
    assert [j.overrides for j in jobs] == [
        {"a": a, "b": b} for a in (1, 2) for b in ("p", "q", "r")
    ]
    assert [j.index for j in jobs] == list(range(6))
    assert all(j.seed == 5 and j.data == ["x.dbn"] for j in jobs)


def test_random_search_with_the_same_seed_gives_the_same_jobs() -> None:
    kw: dict[str, Any] = {
        "ranges": {STOP: (4, 16), SCORE: (0.5, 3.0)},
        "choices": {"trading.strategy.entry_type": ["market", "limit"]},
    }
    a = random_jobs(["f"], 20, sample_seed=7, **kw)
    b = random_jobs(["f"], 20, sample_seed=7, **kw)
    c = random_jobs(["f"], 20, sample_seed=8, **kw)
    assert [j.to_dict() for j in a] == [j.to_dict() for j in b]
    assert [j.overrides for j in a] != [j.overrides for j in c]
    stops = [j.overrides[STOP] for j in a]
    assert all(isinstance(s, int) and 4 <= s <= 16 for s in stops)
    assert all(0.5 <= j.overrides[SCORE] < 3.0 for j in a)
    assert {j.overrides["trading.strategy.entry_type"] for j in a} == {"market", "limit"}


def test_a_job_is_plain_json_and_back() -> None:
    job = grid_jobs(["f.dbn"], {STOP: [8]}, {"trading": {"risk": {"max_position": 1}}},
                    {"order_latency_ns": 250_000}, seed=3)[0]  # fmt: skip
    text = msgspec.json.encode(job)
    assert json.loads(text)["overrides"] == {STOP: 8}
    assert msgspec.json.decode(text, type=SweepJob) == job


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trading.strategy.stop_los": 3}, "setting trading.strategy.stop_los: unknown key"),
        ({"trading.strategi.x": 3}, "setting trading.strategi: unknown key"),
        ({"signals.l3.iceberg_minn": 3}, "setting signals.l3.iceberg_minn: unknown key"),
        ({"trading.strategy.trail": "sideways"}, "setting trading.strategy"),
        ({"book.depth_levels": 0}, "setting book.depth_levels"),
    ],
)
def test_a_bad_key_is_refused_with_its_path(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_job(SweepJob(0, ["f"], overrides=overrides))
    assert message in err.value.message


def test_a_bad_key_stops_the_sweep_before_anything_runs(tmp_path: Path) -> None:
    spec = SweepSpec(data=["nowhere.dbn"], grid={STOP: [8], "trading.strategy.stop_los": [1]})
    with pytest.raises(ConfigError, match=r"trading\.strategy\.stop_los"):
        run_sweep(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_job_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_INSTRUMENT", "NQ")
    monkeypatch.setenv("ORDERFLOW_TRADING__STRATEGY", '{"stop_loss_ticks": 99}')
    s = job_settings({"trading": {"risk": {"max_position": 1}}}, {STOP: 12})
    assert s.instrument == "ES"
    assert s.trading.strategy.stop_loss_ticks == 12
    assert s.trading.risk.max_position == 1


def test_parsed_values_are_yaml_scalars_and_lists() -> None:
    assert parse_values("k=8,0.5,true,market", "--grid") == ("k", [8, 0.5, True, "market"])
    assert parse_values("t=[8,16],[12,24]", "--grid") == ("t", [[8, 16], [12, 24]])
    with pytest.raises(ConfigError):
        parse_values("no-equals", "--grid")


def test_an_injected_job_runs_the_same_in_processes_and_in_process() -> None:
    jobs = grid_jobs(["f"], {"a": [1, 2, 3, 4], "b": [5, 6]})
    seen: list[tuple[int, int]] = []
    one = run_jobs(jobs, processes=1, job_fn=fake_job)
    two = run_jobs(jobs, processes=2, job_fn=fake_job, progress=lambda d, t: seen.append((d, t)))
    assert one == two
    assert [r["index"] for r in two] == list(range(8))
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    ranked = rank(two, "net_pnl")
    assert [r["stats"]["net_pnl"] for r in ranked] == sorted(
        (r["stats"]["net_pnl"] for r in two), reverse=True
    )


@pytest.fixture(scope="module")
def esh4_jobs() -> list[SweepJob]:
    return grid_jobs([str(need(ES_MBO))], GRID)


@pytest.mark.slow
def test_sweep_of_8_on_2_processes_equals_one_by_one(esh4_jobs: list[SweepJob]) -> None:
    parallel = run_jobs(esh4_jobs, processes=2)
    sequential = [run_job(j) for j in esh4_jobs]
    assert all(r["error"] is None for r in parallel + sequential)
    assert [comparable(r) for r in parallel] == [comparable(r) for r in sequential]
    # every stat compared (timings aside), and the runs differ from each other
    assert len(parallel[0]["stats"]) > 25
    assert len({r["stats"]["net_pnl"] for r in parallel}) >= 4
    assert [(r["commands"], r["fills"]) for r in parallel] == [
        (r["commands"], r["fills"]) for r in sequential
    ]


@pytest.mark.slow
def test_sweep_file_writes_ranked_tables_and_the_best_reports(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    data = need(ES_MBO)
    (tmp_path / "base.yaml").write_text("trading:\n  risk:\n    max_position: 2\n")
    (tmp_path / "sweep.yaml").write_text(
        f"data: [{data}]\nconfig: base.yaml\ngrid:\n  {STOP}: [6, 12]\nmetric: net_pnl\ntop: 1\n"
    )
    spec = load_spec(tmp_path / "sweep.yaml")
    assert spec.config == {"trading": {"risk": {"max_position": 2}}}
    out = run_sweep(spec, tmp_path / "out", processes=1)
    table = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert [r["job"] for r in table] == [r["job"] for r in out["rows"]]
    assert table[0]["net_pnl"] >= table[1]["net_pnl"]
    assert (tmp_path / "out" / "results.csv").read_text().startswith("rank,job,")
    best = out["best"][0]
    assert best["same_as_sweep"] and best["job"] == table[0]["job"]
    assert (Path(best["report"]) / "report.html").exists()
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(saved["jobs"]) == 2 and saved["jobs"][0]["overrides"] == {STOP: 6}
