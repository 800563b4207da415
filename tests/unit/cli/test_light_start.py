"""``orderflow --help``, ``orderflow COMMAND --help`` and ``orderflow version`` start without the
compiler: the real command in a subprocess, then a look at what it imported. Every command reads
the settings first, so this also holds the settings to modules without kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orderflow import __version__

# runs ``python -m orderflow.cli.main ARGS`` (as runpy does) and, at exit, writes the heavy
# modules the process holds; PRELOAD (the control) imports a module first
PROBE = """
import atexit, importlib, json, os, runpy, sys
def heavy():
    return sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")
                  or m.endswith("_kernels") or m == "orderflow.book._jit")
atexit.register(lambda: sys.stderr.write("HEAVY " + json.dumps(heavy()) + "\\n"))
atexit.register(lambda: sys.stderr.write("RICH " + json.dumps("rich" in sys.modules) + "\\n"))
if os.environ.get("PRELOAD"):
    importlib.import_module(os.environ["PRELOAD"])
sys.argv = ["orderflow", *sys.argv[1:]]
runpy.run_module("orderflow.cli.main", run_name="__main__")
"""


def probe(
    tmp_path: Path, *args: str, preload: str = "", seen: str = "HEAVY"
) -> tuple[int, str, Any]:
    """Exit status, stdout and the heavy modules of ``orderflow ARGS`` run in ``tmp_path``
    (``seen="RICH"``: whether rich was imported)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env["PRELOAD"] = preload
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(seen + " ")]
    assert len(lines) == 1, proc.stderr
    return proc.returncode, proc.stdout, json.loads(lines[0][len(seen) + 1 :])


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("--help",), "Order-flow engine for NinjaTrader 8"),
        (("version",), f"orderflow {__version__}"),
        (("run", "--help"), "Usage: orderflow run"),
        (("backtest", "--help"), "Usage: orderflow backtest"),
        (("signals", "evaluate", "--help"), "Usage: orderflow signals evaluate"),
        (("--set", "analytics.bar.atr_period=20", "version"), f"orderflow {__version__}"),
    ],
)
def test_help_and_version_load_no_numba_and_no_kernel(
    tmp_path: Path, args: tuple[str, ...], shown: str
) -> None:
    code, out, heavy = probe(tmp_path, *args)
    assert code == 0 and shown in out
    assert heavy == []


def test_the_probe_sees_numba_and_kernels_when_they_are_loaded(tmp_path: Path) -> None:
    """The control: the same probe after importing an analytic with kernels reports them."""
    code, out, heavy = probe(tmp_path, "version", preload="orderflow.analytics.bars")
    assert code == 0 and f"orderflow {__version__}" in out
    assert "numba" in heavy


def test_a_refused_setting_is_still_refused_at_start(tmp_path: Path) -> None:
    """Reading the settings without the kernels still checks them: a bad value stops the start
    with one line naming the key, and no kernel is loaded for it."""
    code, out, heavy = probe(tmp_path, "--set", "analytics.book.imbalance.levels=0", "version")
    assert code == 2 and out == ""
    assert heavy == []


def test_the_refusal_is_one_line_naming_the_key(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orderflow.cli.main", "--set", "signals.pull.window_ns=0",
         "version"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "error: setting signals.pull.window_ns: '0' is refused: "
        "window_ns must be an integer in [1, 3600000000000], got 0\n"
    )


@pytest.mark.parametrize(
    ("args", "rich"),
    [(("instruments", "--json"), False), (("version",), True)],
)
def test_rich_is_imported_only_to_print_for_people(
    tmp_path: Path, args: tuple[str, ...], rich: bool
) -> None:
    """rich (its console, tables and progress bars) loads at the first thing printed for
    people, not at start: a ``--json`` answer never imports it; the control, the human
    ``version``, does."""
    code, out, seen = probe(tmp_path, *args, seen="RICH")
    assert code == 0 and seen is rich
    if rich:
        assert out == f"orderflow {__version__}\n"
    else:
        assert [r["symbol"] for r in json.loads(out)][:2] == ["ES", "MES"]
