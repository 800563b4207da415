"""``orderflow warmup`` (what ``make setup`` runs): the server's kernels compiled or loaded
from numba's cache, the default recording replayed as ``orderflow run`` would, and the simulated
market's generator run (``orderflow run`` without a recording)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ES_MBO, PROJECT_ROOT, need


def test_warmup_runs_the_server_and_run_paths() -> None:
    need(ES_MBO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(PROJECT_ROOT / "src"),
                                                         str(PROJECT_ROOT)))}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "orderflow.cli.main", "warmup", "--json"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env,
                          timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["server_batches"] == 17 and out["run_batches"] > 400
    assert out["data_file"].endswith(ES_MBO.name) and out["kernels"] > 30
    assert 1_900 <= out["simulated_records"] <= 2_000  # the simulated market's generator
    assert "alert" not in proc.stderr  # the throwaway hubs' alerts are not the operator's
