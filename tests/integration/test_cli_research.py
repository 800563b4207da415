"""`orderflow sweep` and `orderflow convert --parquet`, run as the real command on ESH4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.commands import Command, in_one_process, run_cli
from tests.conftest import ES_MBO, need


def test_sweep_and_convert_have_help() -> None:
    # both commands' --help in one process (tests/commands.py), not an interpreter each
    sweep, convert = in_one_process([Command(("sweep", "--help")), Command(("convert", "--help"))])
    assert sweep.returncode == 0 and "--ray-address" in sweep.stdout
    assert convert.returncode == 0 and "--parquet" in convert.stdout


@pytest.mark.slow
def test_convert_to_parquet_then_sweep_the_store(tmp_path: Path) -> None:
    data = need(ES_MBO)
    conv = json.loads(run_cli("convert", str(data), "--parquet", str(tmp_path / "st"),
                              "--json").stdout)  # fmt: skip
    assert conv[0]["rows"] == 68_792 and conv[0]["days"][-1] == "2023-12-26"
    out = json.loads(run_cli(
        "sweep", "--data", str(tmp_path / "st"), "--grid",
        "trading.strategy.stop_loss_ticks=6,12", "--processes", "2", "--top", "1",
        "--out", str(tmp_path / "sw"), "--json").stdout)  # fmt: skip
    assert out["jobs"] == 2 and out["failed"] == 0 and out["best"][0]["same_as_sweep"]
    assert [r["rank"] for r in out["rows"]] == [1, 2]
    assert (tmp_path / "sw" / "results.parquet").exists()


def test_a_bad_sweep_key_is_one_line_naming_it(tmp_path: Path) -> None:
    proc = run_cli("sweep", "--data", "x.dbn", "--grid", "trading.strategy.stop_los=1,2",
                   "--out", str(tmp_path / "o"), check=False)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: setting trading.strategy.stop_los: unknown key (known: "
        + proc.stderr.split("(known: ")[1].strip()
    )
    assert "Traceback" not in proc.stderr
