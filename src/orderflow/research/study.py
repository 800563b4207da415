"""A sweep from end to end: its description (a YAML sweep file or the CLI's flags), the jobs,
the run, the results table (CSV, Parquet, JSON) and the best runs' full reports.

Sweep file (every field optional except ``data`` and one of ``grid`` / ``random``)::

    data: [../shared/data/databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst]
    config: my-settings.yaml          # or the settings as a mapping; default: none (defaults)
    grid:                             # cartesian product
      trading.strategy.stop_loss_ticks: [6, 8, 12]
      trading.strategy.targets_ticks: [[8, 16], [12, 24]]
    random:                           # or n draws
      n: 40
      seed: 7
      ranges: {trading.strategy.entry_score: [0.5, 3.0], trading.strategy.trail_ticks: [4, 16]}
      choices: {trading.strategy.entry_type: [market, limit]}
    options: {order_latency_ns: 250000, decide_every: 100}   # BacktestOptions
    seed: 0                           # the backtests' seed (latency draws), the same for all
    metric: net_pnl                   # rank by this stat ...
    ascending: false                  # ... largest first
    top: 3                            # full reports of the best 3

Outputs under ``OUT``: ``results.csv`` and ``results.parquet`` (one row per job, ranked: the
overrides as columns, then the stats, commands, fills, seconds, error), ``sweep.json`` (the
sweep, every job's description and result), ``best/<rank>-job<index>/`` (the report of
``BacktestResult.write``: trades, daily, equity, stats, charts, report.html). The best runs
are run again to write their reports, and their stats must equal the sweep's (determinism is
checked on every sweep, not assumed).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orderflow.core.errors import ConfigError
from orderflow.research.sweep import (
    ProgressFn,
    SweepJob,
    check_job,
    comparable,
    grid_jobs,
    random_jobs,
    rank,
    ray_session,
    run_jobs,
)

__all__ = ["SweepSpec", "load_spec", "parse_values", "run_sweep", "write_tables"]

_SPEC_KEYS = {"data", "config", "grid", "random", "options", "seed", "metric", "ascending", "top"}


@dataclass
class SweepSpec:
    """What to sweep (see the module docstring for the file form)."""

    data: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random_n: int = 0
    random_seed: int = 0
    ranges: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    choices: dict[str, list[Any]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    metric: str = "net_pnl"
    ascending: bool = False
    top: int = 3

    def jobs(self) -> list[SweepJob]:
        if self.grid and self.random_n:
            raise ConfigError("a sweep is a grid or a random search, not both", field="grid")
        if self.grid:
            return grid_jobs(self.data, self.grid, self.config, self.options, self.seed)
        if self.random_n:
            return random_jobs(
                self.data,
                self.random_n,
                self.ranges,
                self.choices,
                self.config,
                self.options,
                self.seed,
                self.random_seed,
            )
        raise ConfigError("nothing to sweep: give a grid or a random search", field="grid")

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "config": self.config,
            "grid": self.grid,
            "random": {
                "n": self.random_n,
                "seed": self.random_seed,
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "choices": self.choices,
            }
            if self.random_n
            else None,
            "options": self.options,
            "seed": self.seed,
            "metric": self.metric,
            "ascending": self.ascending,
            "top": self.top,
        }


def config_of(
    value: str | Path | Mapping[str, Any] | None, base: Path | None = None
) -> dict[str, Any]:
    """The base config of a sweep: a settings file's content (a path) or a mapping."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    p = Path(value)
    if base is not None and not p.is_absolute():
        p = base / p
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist", field="config")
    loaded = yaml.safe_load(p.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {p} must hold a mapping", field="config")
    return loaded


def load_spec(path: str | Path) -> SweepSpec:
    """A sweep file (YAML): paths in it are relative to the file."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"sweep file {p}: not valid YAML: {exc}", field="sweep") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep file {p}: must hold a mapping", field="sweep")
    unknown = sorted(set(raw) - _SPEC_KEYS)
    if unknown:
        raise ConfigError(
            f"sweep file {p}: unknown keys {unknown} (known: {', '.join(sorted(_SPEC_KEYS))})",
            field=unknown[0],
        )
    here = p.resolve().parent
    data = [str(d if Path(d).is_absolute() else here / d) for d in raw.get("data", [])]
    rnd = raw.get("random") or {}
    spec = SweepSpec(
        data=data,
        config=config_of(raw.get("config"), here),
        grid={
            k: list(v) if isinstance(v, list) else [v] for k, v in (raw.get("grid") or {}).items()
        },
        random_n=int(rnd.get("n", 0)),
        random_seed=int(rnd.get("seed", 0)),
        ranges={k: _range(k, v) for k, v in (rnd.get("ranges") or {}).items()},
        choices={k: list(v) for k, v in (rnd.get("choices") or {}).items()},
        options=dict(raw.get("options") or {}),
        seed=int(raw.get("seed", 0)),
        metric=str(raw.get("metric", "net_pnl")),
        ascending=bool(raw.get("ascending", False)),
        top=int(raw.get("top", 3)),
    )
    return spec


def _range(key: str, v: Any) -> tuple[Any, Any]:
    if isinstance(v, str):
        lo, sep, hi = v.partition(":")
        if not sep:
            raise ConfigError(f"sweep range {key}: {v!r} is not LO:HI", field=key)
        v = [_scalar(lo), _scalar(hi)]
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise ConfigError(f"sweep range {key}: give [lo, hi]", field=key)
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ConfigError(f"sweep range {key}: {x!r} is not a number", field=key)
    return (v[0], v[1])


def _scalar(text: str) -> Any:
    return yaml.safe_load(text) if text.strip() else text


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets: ``8,16`` -> 2 values, ``[8,16],[12,24]`` -> 2 lists."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_values(arg: str, what: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` (each value read as YAML: 8, 0.5, true, market, [8,16])."""
    key, sep, values = arg.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ConfigError(f"{what} {arg!r}: expected KEY=V1,V2,...", field=what.lstrip("-"))
    try:
        return key, [_scalar(v.strip()) for v in _split_top(values)]
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {arg!r}: {exc}", field=key) from exc


def parse_range(arg: str) -> tuple[str, tuple[Any, Any]]:
    """``KEY=LO:HI``."""
    key, sep, values = arg.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--range {arg!r}: expected KEY=LO:HI", field="range")
    return key.strip(), _range(key.strip(), values)


# ---- running and writing -----------------------------------------------------------------------
def _columns(results: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    stats: list[str] = []
    for r in results:
        keys += [k for k in r["overrides"] if k not in keys]
        stats += [
            k
            for k, v in r.get("stats", {}).items()
            if k not in stats and (v is None or isinstance(v, int | float | str))
        ]
    return keys, stats


def table_rows(ranked: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """One flat row per job, ranked (overrides, then scalar stats, then the run's counts)."""
    keys, stats = _columns(ranked)
    stats = [k for k in stats if k not in ("rank", "job", "seconds", "error", *keys)]
    tail = [c for c in ("commands", "fills", "seconds", "error") if c not in stats]
    cols = ["rank", "job", *keys, *stats, *tail]
    rows = []
    for i, r in enumerate(ranked, 1):
        row: dict[str, Any] = {"rank": i, "job": r["index"]}
        for k in keys:
            v = r["overrides"].get(k)
            row[k] = json.dumps(v) if isinstance(v, list | dict) else v
        for k in stats:
            row[k] = r.get("stats", {}).get(k)
        row.update(
            commands=r.get("commands"),
            fills=r.get("fills"),
            seconds=round(float(r.get("seconds", 0.0)), 3),
            error=(r.get("error") or "").splitlines()[0] if r.get("error") else None,
        )
        rows.append(row)
    return cols, rows


def write_tables(out: Path, cols: list[str], rows: list[dict[str, Any]]) -> dict[str, Path]:
    """``results.csv`` and ``results.parquet`` (a column of mixed values is stored as text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    arrays = []
    for c in cols:
        values = [r.get(c) for r in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values]))
    pq.write_table(pa.Table.from_arrays(arrays, names=cols), out / "results.parquet")
    return {"csv": out / "results.csv", "parquet": out / "results.parquet"}


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    processes: int | None = None,
    ray_address: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Check every job, run them, rank them, write the tables and the best ``top`` reports;
    returns the sweep's summary (``ranked`` holds every result, best first)."""
    out = Path(out)
    jobs = spec.jobs()
    for j in jobs:  # a bad key fails here, naming its path, before any process starts
        check_job(j)
    with ray_session(ray_address, processes):
        return _run(spec, out, jobs, processes, ray_address, progress)


def _run(
    spec: SweepSpec,
    out: Path,
    jobs: list[SweepJob],
    processes: int | None,
    ray_address: str | None,
    progress: ProgressFn | None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    results = run_jobs(jobs, processes, ray_address, progress=progress)
    wall = time.perf_counter() - t0
    ranked = rank(results, spec.metric, spec.ascending)
    cols, rows = table_rows(ranked)
    paths = write_tables(out, cols, rows)
    best = [r for r in ranked if not r.get("error")][: max(spec.top, 0)]
    reports: list[dict[str, Any]] = []
    if best:
        by_index = {j.index: j for j in jobs}
        again = [
            SweepJob(
                **{
                    **by_index[r["index"]].to_dict(),
                    "report_dir": str(out / "best" / f"{n}-job{r['index']}"),
                }
            )
            for n, r in enumerate(best, 1)
        ]
        rerun = run_jobs(again, processes, ray_address)
        for r, r2 in zip(best, rerun, strict=True):
            reports.append(
                {
                    "job": r["index"],
                    "report": r2.get("report"),
                    "same_as_sweep": comparable(r) == comparable(r2),
                    "error": r2.get("error"),
                }
            )
    summary = {
        "jobs": len(jobs),
        "failed": sum(1 for r in results if r.get("error")),
        "metric": spec.metric,
        "ascending": spec.ascending,
        "wall_s": round(wall, 3),
        "processes": processes,
        "ray_address": ray_address,
        "tables": {k: str(v) for k, v in paths.items()},
        "best": reports,
        "columns": cols,
        "rows": rows,
    }
    (out / "sweep.json").write_text(
        json.dumps(
            {
                "spec": spec.to_dict(),
                "summary": {k: v for k, v in summary.items() if k != "rows"},
                "jobs": [j.to_dict() for j in jobs],
                "results": results,
            },
            indent=1,
            default=str,
        )
    )
    return summary
