"""Shared fixtures: where the recorded exchange data lives (read in place, never copied), and
small builders of test inputs."""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orderflow.model.dtypes import TRADE_DTYPE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"

ES_MBO = DATA_DIR / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
ES_MBO_SNAPSHOT = DATA_DIR / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231224.mbo.dbn.zst"
ESH1_DIR = DATA_DIR / "databento" / "fixtures_esh1_20201228"
LOBSTER_MSG = DATA_DIR / "lobster" / "GOOG_2012-06-21_34200000_57600000_message_1.csv"
LOBSTER_BOOK = DATA_DIR / "lobster" / "GOOG_2012-06-21_34200000_57600000_orderbook_1.csv"
CME_BARS = DATA_DIR / "cme_bars" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
#: seconds each test file took in a measured run (scripts/test_durations.py writes it)
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_configure(config: pytest.Config) -> None:
    """Under ``pytest -n N`` (in the controller, before it starts the workers): the test
    modules' assertion-rewritten bytecode and the helper modules' bytecode written once, on
    two cores, where each worker would otherwise compile every module of the suite itself to
    collect it (on a clean clone no ``__pycache__`` exists: both workers rewrote all ~220
    files side by side). The workers then load pytest's cached rewrite (hash-checked against
    the source: a stale or missing file is rewritten by the worker as before)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", 0):
        return
    if sys.dont_write_bytecode or config.getoption("assertmode") != "rewrite":
        return
    files = sorted(Path(__file__).parent.rglob("*.py"), key=lambda f: -f.stat().st_size)
    # the largest files dealt out in turn: a child process takes one half, this one the other
    pid = os.fork()
    if pid == 0:
        try:
            write_bytecode(files[1::2], config)
        finally:
            os._exit(0)
    write_bytecode(files[0::2], config)
    os.waitpid(pid, 0)


def write_bytecode(files: list[Path], config: pytest.Config) -> None:
    """Each test module's (``test_*.py``, ``conftest.py``) bytecode as pytest's import hook
    writes it (its rewritten asserts, in ``__pycache__``, with the source's hash), unless a
    valid one is there; each other module's as Python's import writes it."""
    from _pytest.assertion import rewrite

    state = config.stash[rewrite.assertstate_key]
    for fn in files:
        if not (fn.name.startswith("test_") or fn.name == "conftest.py"):
            cached = Path(importlib.util.cache_from_source(str(fn)))
            if not cached.exists() or cached.stat().st_mtime < fn.stat().st_mtime:
                py_compile.compile(str(fn), doraise=False, quiet=2)
            continue
        pyc = rewrite.get_cache_dir(fn) / (fn.name[:-3] + rewrite.PYC_TAIL)
        if rewrite._read_pyc(fn, pyc) is None and rewrite.try_makedirs(pyc.parent):
            try:
                source_hash, co = rewrite._rewrite_test(fn, config)
            except SyntaxError:  # left to the worker, which reports it as collecting does
                continue
            rewrite._write_pyc(state, co, source_hash, pyc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the test files the longest first (by ``durations.json``; a file not in it
    counts as 0 s and keeps its place among those), each file whole and in its own order (its
    module fixtures are set up as before). A worker takes the next tests as it frees up, so the
    long files start first and the short ones even out the workers' ends. The order is
    the same in every worker (xdist requires it): it depends on the node ids alone."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    try:
        cost: dict[str, float] = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return

    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    place = {f: k for k, f in enumerate(dict.fromkeys(file_of(i) for i in items))}
    items.sort(key=lambda i: (-cost.get(file_of(i), 0.0), place[file_of(i)]))


def need(path: Path) -> Path:
    """Skip the test when a recorded data file is not on this machine (CI always has it)."""
    if not path.exists():
        pytest.skip(f"recorded data not present: {path}")
    return path


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Results computed once per test run (tests/commands.py: Shared), in the run's temporary
    folder: under xdist the folder above each worker's own, which both workers see."""
    from tests.commands import Shared

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return Shared(root / "shared")


@pytest.fixture
def es_mbo_path() -> Path:
    return need(ES_MBO)


@pytest.fixture
def lobster_paths() -> tuple[Path, Path]:
    return need(LOBSTER_MSG), need(LOBSTER_BOOK)


def make_trades(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Trades (TRADE_DTYPE) from (ts_event ns, price ticks, size, aggressor side) tuples."""
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (ts, price, size, side) in enumerate(rows):
        out[i]["ts_event"], out[i]["price"], out[i]["size"], out[i]["side"] = ts, price, size, side
    return out
