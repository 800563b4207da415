"""Parameter sweeps: many backtests, each an independent deterministic job, run in parallel.

A :class:`SweepJob` is plain data (msgspec; JSON as it is), so the very same description runs
in this process, in a local process pool or as a Ray task on a cluster::

    {"index": 3,
     "data": ["../shared/data/databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst"],
     "config": {...},                                   # the settings file's content
     "overrides": {"trading.strategy.stop_loss_ticks": 12, "trading.strategy.trail": "ticks"},
     "options": {"order_latency_ns": 250000, "decide_every": 100},   # BacktestOptions fields
     "seed": 0,                                         # BacktestOptions.seed
     "report_dir": null}                                # write the full report here

:func:`run_job` builds the settings from ``config`` + ``overrides`` (the environment is not
read: a job gives the same answer on any machine), turns them into the pipeline's and the
trading engine's parameters, runs :func:`orderflow.backtest.run.run_backtest` and returns a
:class:`JobResult` as a plain dict. Every job of a sweep has the same ``seed`` (common random
numbers: two parameter sets differ by their parameters, not by their latency draws).

:func:`grid_jobs` (cartesian product) and :func:`random_jobs` (``n`` draws from ranges and
choices, from a seeded generator) make the jobs; :func:`run_jobs` runs them in this process
(``processes=1``), in a pool of spawned processes, or on Ray (``ray_address``), with a
``progress(done, total)`` callback. Results come back in job order whatever the order they
finished in.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from pydantic import ValidationError

from orderflow.core.errors import ConfigError
from orderflow.research import sweep_workers
from orderflow.settings import Settings, pipeline_params, trading_params
from orderflow.settings_rules import settings_error

__all__ = [
    "TIMING_KEYS",
    "JobResult",
    "SweepJob",
    "apply_overrides",
    "batches",
    "check_job",
    "grid_jobs",
    "job_settings",
    "random_jobs",
    "ray_session",
    "run_job",
    "run_jobs",
    "run_pool",
]

#: stats that measure the machine, not the strategy (left out when runs are compared)
TIMING_KEYS = frozenset({"elapsed_s", "events_per_s"})

JobFn = Callable[[dict[str, Any]], dict[str, Any]]
ProgressFn = Callable[[int, int], None]


class SweepJob(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One backtest of a sweep (see the module docstring)."""

    index: int
    data: list[str]
    config: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    options: dict[str, Any] = {}
    seed: int = 0
    report_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class JobResult(msgspec.Struct):
    """What a job answers: its stats (``BacktestResult.stats``), the number of commands sent
    and fills reported, where its report went, its wall time, or the error that stopped it."""

    index: int
    overrides: dict[str, Any]
    stats: dict[str, Any] = {}
    commands: int = 0
    fills: int = 0
    report: str | None = None
    seconds: float = 0.0
    error: str | None = None


# ---- settings from a job -----------------------------------------------------------------------
class _JobSettings(Settings):
    """The settings of a job: its own values only (no environment, no settings file)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, **_: Any) -> Any:  # type: ignore[override]
        return (init_settings,)


def apply_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with each dotted key (``trading.strategy.stop_loss_ticks``) set."""
    out = copy.deepcopy(dict(config))
    for key, value in overrides.items():
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"sweep key {key!r}: empty part in a dotted key", field=key)
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"setting {key}: {where} is not a mapping", field=key)
            node = nxt
        node[parts[-1]] = value
    return out


def job_settings(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> Settings:
    """Settings from a base config and overrides; a bad or unknown key raises
    :class:`ConfigError` naming its path (``setting trading.strategy.stop_los: unknown key``)."""
    merged = apply_overrides(config, overrides)
    try:
        return _JobSettings(**merged)
    except ValidationError as exc:
        raise settings_error(exc, _JobSettings) from exc


def _params(job: SweepJob) -> tuple[Any, Any, Any]:
    from orderflow.backtest.run import BacktestOptions
    from orderflow.model.instruments import get_instrument

    s = job_settings(job.config, job.overrides)
    pipe, trading = pipeline_params(s), trading_params(s)
    opts = dict(job.options)
    if isinstance(opts.get("instrument"), str):
        opts["instrument"] = get_instrument(opts["instrument"])
    opts["seed"] = job.seed
    try:
        options = BacktestOptions(**opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"sweep options: {exc}", field="options") from exc
    return pipe, trading, options


def check_job(job: SweepJob | Mapping[str, Any]) -> None:
    """Refuse a job whose settings or options are wrong, before anything runs."""
    _params(job if isinstance(job, SweepJob) else msgspec.convert(job, SweepJob))


def run_job(job: SweepJob | Mapping[str, Any]) -> dict[str, Any]:
    """Run one job (a :class:`SweepJob` or its dict) and return its :class:`JobResult` as a
    dict. A failure is caught and returned as ``error`` (one job never stops a sweep)."""
    from orderflow.io import parquet_store  # noqa: F401 - registers the store as a source

    j = job if isinstance(job, SweepJob) else msgspec.convert(job, SweepJob)
    t0 = time.perf_counter()
    res = JobResult(j.index, dict(j.overrides))
    try:
        from orderflow.backtest.run import run_backtest, run_sources

        pipe, trading, options = _params(j)
        if sweep_workers.active() and j.data:  # a sweep's worker: its files decoded once
            sources = (
                (
                    p,
                    sweep_workers.chunks_of(
                        p, options.chunk_records, options.instrument, options.tz
                    ),
                )
                for p in j.data
            )
            result = run_sources(sources, pipe, trading, options)
        else:
            result = run_backtest(j.data, pipe, trading, options)
        res.stats = _plain(result.stats)
        res.commands, res.fills = len(result.commands), len(result.fills)
        if j.report_dir is not None:
            result.write(j.report_dir)
            res.report = j.report_dir
    except Exception as exc:  # a job's failure is its result, not the sweep's end
        res.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    res.seconds = time.perf_counter() - t0
    return msgspec.to_builtins(res)  # type: ignore[no-any-return]


def _plain(x: Any) -> Any:
    """numpy scalars and other odd values to JSON's types."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if x is None or isinstance(x, bool | int | float | str):
        return x
    return str(x)


# ---- making jobs -------------------------------------------------------------------------------
def _job(
    i: int,
    data: Sequence[str | Path],
    config: Mapping[str, Any],
    overrides: dict[str, Any],
    options: Mapping[str, Any] | None,
    seed: int,
) -> SweepJob:
    return SweepJob(
        index=i,
        data=[str(p) for p in data],
        config=dict(config),
        overrides=overrides,
        options=dict(options or {}),
        seed=seed,
    )


def grid_jobs(
    data: Sequence[str | Path],
    grid: Mapping[str, Sequence[Any]],
    config: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> list[SweepJob]:
    """One job per combination of the grid's values (the last key varies fastest)."""
    keys = list(grid)
    for k in keys:
        if not len(grid[k]):
            raise ConfigError(f"sweep grid {k}: no values", field=k)
    combos = itertools.product(*(list(grid[k]) for k in keys))
    return [
        _job(i, data, config or {}, dict(zip(keys, c, strict=True)), options, seed)
        for i, c in enumerate(combos)
    ]


def random_jobs(
    data: Sequence[str | Path],
    n: int,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    choices: Mapping[str, Sequence[Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    sample_seed: int = 0,
) -> list[SweepJob]:
    """``n`` jobs drawn from ``ranges`` (``(lo, hi)``: integers uniform on ``lo..hi`` inclusive
    when both are ints, else floats uniform on ``[lo, hi)``) and ``choices`` (one of the list),
    keys in sorted order, by ``numpy.random.default_rng(sample_seed)``: the same seed gives the
    same jobs."""
    if n < 1:
        raise ConfigError(f"sweep random: n must be >= 1, got {n}", field="random")
    rng = np.random.default_rng(sample_seed)
    ranges, choices = dict(ranges or {}), dict(choices or {})
    both = set(ranges) & set(choices)
    if both:
        raise ConfigError(f"sweep random: {sorted(both)} both a range and a choice", field="random")
    if not ranges and not choices:
        raise ConfigError(
            "sweep random: nothing to draw (give a range or a choice)", field="random"
        )
    jobs = []
    for i in range(n):
        ov: dict[str, Any] = {}
        for key in sorted({*ranges, *choices}):
            if key in ranges:
                lo, hi = ranges[key]
                if hi < lo:
                    raise ConfigError(f"sweep range {key}: {hi} < {lo}", field=key)
                if isinstance(lo, int) and isinstance(hi, int):
                    ov[key] = int(rng.integers(lo, hi, endpoint=True))
                else:
                    ov[key] = float(rng.uniform(lo, hi))
            else:
                values = list(choices[key])
                ov[key] = values[int(rng.integers(len(values)))]
        jobs.append(_job(i, data, config or {}, ov, options, seed))
    return jobs


# ---- running -----------------------------------------------------------------------------------
#: imported once by the fork server, so that each worker forked from it starts with them
PRELOAD = [
    "orderflow.research.sweep",
    "orderflow.research.sweep_workers",
    "orderflow.backtest.run",
    "orderflow.io.parquet_store",
    "orderflow.research.sweep_warm",  # loads the backtest's kernels once, before any fork
]


def _context() -> Any:
    """``forkserver`` where there is one (Linux): a worker is forked from a clean
    single-threaded server (never from this process's threads: numba's, rich's, Ray's) that
    has imported orderflow once (:data:`PRELOAD`); ``spawn`` elsewhere."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def run_jobs(
    jobs: Sequence[SweepJob],
    processes: int | None = None,
    ray_address: str | None = None,
    job_fn: JobFn = run_job,
    progress: ProgressFn | None = None,
    reuse: bool = True,
) -> list[dict[str, Any]]:
    """Run every job and return the results in job order. ``processes``: 1 runs them here,
    one by one; N > 1 in a pool of N processes (default: the CPUs, at most the jobs);
    ``ray_address`` (``auto``, ``ray://host:10001``, or ``local`` to start one on this machine)
    runs them on Ray instead. ``job_fn`` must be importable by the workers (a module-level
    function). ``reuse`` (the default): each worker (this process, a pool process, a Ray
    actor) decodes the sweep's files once and replays them from memory for every job
    (:mod:`orderflow.research.sweep_workers`); False: every job reads its files itself (a pool
    of one-job tasks, Ray tasks). The results are the same either way."""
    payloads = [j.to_dict() for j in jobs]
    total = len(payloads)
    if progress is not None:
        progress(0, total)
    if not total:
        return []
    if ray_address is not None:
        return _run_ray(payloads, ray_address, job_fn, progress, processes, reuse)
    n = processes or min(os.cpu_count() or 1, total)
    if n <= 1:
        return _run_here(payloads, job_fn, progress, reuse)
    return run_pool(payloads, n, job_fn, progress, reuse=reuse)


def _run_here(
    payloads: Sequence[dict[str, Any]], job_fn: JobFn, progress: ProgressFn | None, reuse: bool
) -> list[dict[str, Any]]:
    was = sweep_workers.active()
    if reuse:
        sweep_workers.activate()
    try:
        out = []
        for p in payloads:
            out.append(job_fn(p))
            if progress is not None:
                progress(len(out), len(payloads))
        return out
    finally:
        if reuse and not was:
            sweep_workers.deactivate()


def batches(
    payloads: Sequence[dict[str, Any]], workers: int, size: int | None = None
) -> list[list[dict[str, Any]]]:
    """The jobs cut into batches handed to a worker at once: ``size`` jobs, or by default
    about four batches per worker (one job a batch for short sweeps: the workers stay
    balanced; fewer round trips for sweeps of thousands)."""
    if size is None:
        size = max(1, len(payloads) // (4 * max(1, workers)))
    if size < 1:
        raise ConfigError(f"sweep batch size must be >= 1, got {size}", field="batch")
    return [list(payloads[i : i + size]) for i in range(0, len(payloads), size)]


def run_pool(
    payloads: Sequence[dict[str, Any]],
    processes: int,
    job_fn: JobFn = run_job,
    progress: ProgressFn | None = None,
    context: Any = None,
    reuse: bool = True,
    batch: int | None = None,
) -> list[dict[str, Any]]:
    """Job dicts through a pool of ``processes`` worker processes (``context``: a
    multiprocessing context, default :func:`_context`); results in job order. ``reuse``: each
    worker decodes the sweep's files once, when it starts (:func:`sweep_workers.init_worker`),
    and takes the jobs in batches (:func:`batches`, ``batch`` jobs each); False: one task per
    job, each reading its files."""
    results: dict[int, dict[str, Any]] = {}
    workers = max(1, min(processes, len(payloads)))
    kwargs: dict[str, Any] = {}
    if reuse:
        kwargs = {
            "initializer": sweep_workers.init_worker,
            "initargs": (sweep_workers.preload_specs(payloads),),
        }
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context or _context(), **kwargs
    ) as pool:
        pending: set[Future[list[dict[str, Any]]]]
        if reuse:
            pending = {
                pool.submit(sweep_workers.run_batch, job_fn, b)
                for b in batches(payloads, workers, batch)
            }
        else:
            pending = {pool.submit(sweep_workers.run_batch, job_fn, [p]) for p in payloads}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                for r in f.result():
                    results[r["index"]] = r
            if progress is not None:
                progress(len(results), len(payloads))
    return [results[p["index"]] for p in payloads]


@contextmanager
def ray_session(address: str | None, cpus: int | None = None) -> Iterator[None]:
    """Connect to Ray (or start a local one for ``local``) for the block, unless already
    connected; nothing without an address. A sweep holds one session for its jobs and the
    best runs' reports."""
    if address is None:
        yield
        return
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "--ray-address needs Ray: pip install 'orderflow[ray]'", field="ray_address"
        ) from exc
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
        if address == "local" and cpus:
            kwargs["num_cpus"] = cpus
        ray.init(address=address, **kwargs)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _run_ray(
    payloads: list[dict[str, Any]],
    address: str,
    job_fn: JobFn,
    progress: ProgressFn | None,
    cpus: int | None,
    reuse: bool = True,
) -> list[dict[str, Any]]:
    """On Ray: with ``reuse``, one :class:`sweep_workers.SweepWorker` actor per worker (``cpus``,
    default the cluster's CPUs, at most the jobs), each decoding the files once and taking
    batches of jobs as it finishes the last; else one Ray task per job."""
    with ray_session(address, cpus):
        import ray

        results: dict[int, dict[str, Any]] = {}
        if not reuse:
            task = ray.remote(num_cpus=1)(sweep_workers.run_batch)
            pending = [task.remote(job_fn, [p]) for p in payloads]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in ray.get(done[0]):
                    results[r["index"]] = r
                if progress is not None:
                    progress(len(results), len(payloads))
            return [results[p["index"]] for p in payloads]
        n = cpus or int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        n = max(1, min(n, len(payloads)))
        actor: Any = ray.remote(num_cpus=1)(sweep_workers.SweepWorker)
        specs = sweep_workers.preload_specs(payloads)
        workers: list[Any] = [actor.remote(specs) for _ in range(n)]
        todo = batches(payloads, n)
        todo.reverse()
        busy: dict[Any, Any] = {}
        for w in workers:
            if todo:
                busy[w.run.remote(job_fn, todo.pop())] = w
        try:
            while busy:
                done, _ = ray.wait(list(busy), num_returns=1)
                w = busy.pop(done[0])
                for r in ray.get(done[0]):
                    results[r["index"]] = r
                if todo:
                    busy[w.run.remote(job_fn, todo.pop())] = w
                if progress is not None:
                    progress(len(results), len(payloads))
        finally:
            for w in workers:
                ray.kill(w)
        return [results[p["index"]] for p in payloads]


# ---- results -----------------------------------------------------------------------------------
def comparable(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result without what measures the machine (to compare two runs of one job)."""
    stats = {k: v for k, v in result.get("stats", {}).items() if k not in TIMING_KEYS}
    return {
        "index": result["index"],
        "overrides": result["overrides"],
        "stats": stats,
        "commands": result.get("commands"),
        "fills": result.get("fills"),
        "error": result.get("error"),
    }


def rank(results: Iterable[Mapping[str, Any]], metric: str, ascending: bool = False) -> list[Any]:
    """Results that ran, best first by ``metric`` (None or missing last), then failures."""
    ok = [r for r in results if not r.get("error")]
    bad = [r for r in results if r.get("error")]

    def key(r: Mapping[str, Any]) -> tuple[int, float, int]:
        v = r.get("stats", {}).get(metric)
        if not isinstance(v, int | float) or v != v:
            return (1, 0.0, r["index"])
        return (0, float(v) if ascending else -float(v), r["index"])

    return sorted(ok, key=key) + bad
