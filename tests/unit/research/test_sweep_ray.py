"""Sweeps on Ray: a sweep file's jobs, and the same jobs through Ray actors (reusing workers)
and Ray tasks (one a job), give exactly what the same jobs give one by one in this process.
One local Ray serves the module: ``ray_session`` starts it here as a sweep starts its own
(``local``, 2 CPUs), and a sweep or ``run_jobs`` given ``ray_address="local"`` while it is
connected runs on it (each starting a Ray of its own cost a cluster's start per test)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orderflow.research import sweep_workers
from orderflow.research.study import SweepSpec, run_sweep
from orderflow.research.sweep import comparable, grid_jobs, ray_session, run_job, run_jobs
from tests.conftest import ES_MBO, need
from tests.unit.research.test_sweep_workers import OPTIONS, SCORE, STOP

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    pytest.importorskip("ray")
    import ray

    assert not ray.is_initialized()
    with ray_session("local", 2):
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
        yield
    assert not ray.is_initialized()  # the session that started it shut it down


@pytest.fixture(autouse=True)
def _cache_off() -> Any:
    sweep_workers.deactivate()
    yield
    sweep_workers.deactivate()


def test_sweep_on_a_local_ray_cluster_equals_one_by_one(tmp_path: Path, local_ray: None) -> None:
    data = str(need(ES_MBO))
    spec = SweepSpec(data=[data], grid={STOP: [6, 8], SCORE: [1.0, 1.5]}, top=1)
    # the command's path on the local Ray: its 4 jobs and the best's report
    out = run_sweep(spec, tmp_path, processes=2, ray_address="local")
    on_ray = json.loads((tmp_path / "sweep.json").read_text())["results"]
    sequential = [run_job(j) for j in spec.jobs()]
    assert out["failed"] == 0 and out["best"][0]["same_as_sweep"]
    assert [comparable(r) for r in on_ray] == [comparable(r) for r in sequential]


def test_ray_actors_and_ray_tasks_equal_the_old_path(local_ray: None) -> None:
    path = str(need(ES_MBO))
    jobs = grid_jobs([path], {STOP: [6, 12], SCORE: [1.0, 1.5]}, options=OPTIONS)
    old = [comparable(run_job(j)) for j in jobs]
    actors = run_jobs(jobs, processes=2, ray_address="local")
    tasks = run_jobs(jobs, processes=2, ray_address="local", reuse=False)
    assert all(r["error"] is None for r in actors + tasks)
    assert [comparable(r) for r in actors] == old
    assert [comparable(r) for r in tasks] == old
