"""Sweep workers that decode their files once: the same jobs give the same results through the
old per-job path (every job reads its file), one worker and two workers, every stat but the
timings; the kept chunks are never written; a file too big to keep is read per job."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orderflow.io.stream import open_chunks
from orderflow.research import sweep_workers
from orderflow.research.sweep import batches, comparable, grid_jobs, run_job, run_jobs
from tests.conftest import ES_MBO, need

STOP = "trading.strategy.stop_loss_ticks"
SCORE = "trading.strategy.entry_score"
#: the first 20 minutes of the ESH4 hour: 4 parameter sets, about a second a job
OPTIONS = {"end_ns": 1_703_545_200_000_000_000 + 20 * 60 * 1_000_000_000}


def held_job(job: dict[str, Any]) -> dict[str, Any]:
    """A job that also says what its worker holds decoded (importable by the workers)."""
    out = run_job(job)
    out["held"] = [k[0] for k in sweep_workers.cached_keys()]
    out["pid"] = __import__("os").getpid()
    return out


@pytest.fixture(autouse=True)
def _cache_off() -> Any:
    sweep_workers.deactivate()
    yield
    sweep_workers.deactivate()


def test_batches_cut_in_order_about_four_per_worker() -> None:
    jobs = [{"index": i} for i in range(50)]
    cut = batches(jobs, 2)
    assert [len(b) for b in cut] == [6] * 8 + [2]
    assert [j["index"] for b in cut for j in b] == list(range(50))
    assert [len(b) for b in batches(jobs[:8], 2)] == [1] * 8
    assert [len(b) for b in batches(jobs[:5], 2, size=2)] == [2, 2, 1]


def test_the_cache_is_off_unless_a_sweep_turns_it_on() -> None:
    path = need(ES_MBO)
    sweep_workers.chunks_of(path, 65_536, None, None)
    assert sweep_workers.cached_keys() == []
    run_jobs(grid_jobs([str(path)], {STOP: [8]}, options=OPTIONS), processes=1)
    assert not sweep_workers.active() and sweep_workers.cached_keys() == []


def test_kept_chunks_equal_a_fresh_decode_after_jobs_ran_on_them() -> None:
    path = need(ES_MBO)
    jobs = grid_jobs([str(path)], {STOP: [6, 12]}, options=OPTIONS)
    sweep_workers.activate()
    for j in jobs:
        assert run_job(j)["error"] is None
    (key,) = sweep_workers.cached_keys()
    assert key[0] == str(path.resolve()) and key[1] == 65_536
    kept = list(sweep_workers.chunks_of(path, 65_536, None, None).chunks)
    fresh = list(open_chunks(path, 65_536).chunks)
    assert len(kept) == len(fresh) > 1
    assert all(np.array_equal(a.records, b.records) for a, b in zip(kept, fresh, strict=True))
    # another chunk size is another decode, kept beside the first
    assert len(list(sweep_workers.chunks_of(path, 100_000, None, None).chunks)) < len(kept)
    assert len(sweep_workers.cached_keys()) == 2


def test_a_file_over_the_bound_is_read_per_job_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = need(ES_MBO)
    jobs = grid_jobs([str(path)], {STOP: [8]}, options=OPTIONS)
    monkeypatch.setattr(sweep_workers, "MAX_CACHED_BYTES", 1 << 20)
    sweep_workers.activate()
    capped = [run_job(j) for j in jobs + jobs]
    assert sweep_workers.cached_keys() == []
    sweep_workers.deactivate()
    assert [comparable(r) for r in capped] == [comparable(run_job(jobs[0]))] * 2


def test_a_missing_file_fails_its_jobs_not_the_sweep(tmp_path: Any) -> None:
    jobs = grid_jobs([str(tmp_path / "nowhere.dbn.zst")], {STOP: [6, 8]})
    out = run_jobs(jobs, processes=2)
    assert [r["index"] for r in out] == [0, 1]
    assert all("nowhere.dbn.zst" in r["error"] for r in out)


def test_the_same_jobs_through_the_old_path_one_and_two_workers_are_equal() -> None:
    path = str(need(ES_MBO))
    jobs = grid_jobs([path], {STOP: [6, 12], SCORE: [1.0, 1.5]}, options=OPTIONS)
    old = [run_job(j) for j in jobs]  # each job decodes the file itself
    one = run_jobs(jobs, processes=1, job_fn=held_job)
    two = run_jobs(jobs, processes=2, job_fn=held_job)
    pool_old = run_jobs(jobs, processes=2, reuse=False)
    assert all(r["error"] is None for r in old + one + two + pool_old)
    want = [comparable(r) for r in old]
    assert [comparable(r) for r in one] == want
    assert [comparable(r) for r in two] == want
    assert [comparable(r) for r in pool_old] == want
    assert len(want[0]["stats"]) > 25 and len({r["stats"]["net_pnl"] for r in old}) >= 2
    # every worker held the file decoded from its first job on (decoded when it started)
    assert all(r["held"] == [str(need(ES_MBO).resolve())] for r in one + two)
    assert len({r["pid"] for r in two}) == 2
