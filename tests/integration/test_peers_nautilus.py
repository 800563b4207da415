"""nautilus_trader's L3 book, fed by its own Databento loader, shows the same top 10 per side as
ours at every event boundary of ESH4: the premise of the peers benchmark (same work).

Runs nautilus from its own environment (.venv-peers, made by ``make bench-peers``); skipped when
that environment does not exist, so ``make test`` never builds it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orderflow.io.dbn import read_mbo
from tests.conftest import ES_MBO, PROJECT_ROOT, need

PEER_PYTHON = PROJECT_ROOT / ".venv-peers" / "bin" / "python"
RUN_PEER = PROJECT_ROOT / "benchmarks" / "peers" / "run_peer.py"


@pytest.fixture
def peers_python() -> Path:
    if not PEER_PYTHON.exists():
        pytest.skip(f"{PEER_PYTHON.parent.parent} does not exist; `make bench-peers` creates it")
    return PEER_PYTHON


def test_nautilus_top_10_equals_ours_at_all_47022_boundaries(
    peers_python: Path, tmp_path: Path
) -> None:
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    from bench_peers import our_top  # type: ignore[import-not-found]
    from peers.compare import compare_tops  # type: ignore[import-not-found]

    path = need(ES_MBO)
    mbo, inst = read_mbo(path)
    top_file = tmp_path / "nautilus.npz"
    cmd = [str(peers_python), str(RUN_PEER), "nautilus", str(path), "--records", str(len(mbo)),
           "--tick", str(inst.tick_size), "--top", str(top_file), "--check", "pyo3",
           "--top-only"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=120)
    with np.load(top_file) as z:
        theirs = {k: z[k] for k in z.files}
    ours = our_top(mbo, inst)
    assert len(ours["bid_price"]) == 47_022
    c = compare_tops(ours, theirs, depth=10)
    assert c.fields == ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size",
                        "ask_count", "ts_recv")  # fmt: skip
    assert (c.boundaries, c.equal) == (47_022, 47_022), c.detail
    # not a trivially empty book: the last boundary has ten levels a side, ESH4 at 4810.00
    assert ours["bid_price"][-1, 0] == 19_240 and (theirs["bid_size"][-1] > 0).all()
