"""``python -m orderflow.cli.warmup_jobs``: what ``orderflow warmup`` compiles, on two cores
(``make setup``): two processes, each compiling what the other does not, then the warm-up
proper (``orderflow warmup``) loading it all and compiling what is left.

Numba caches each kernel on its own, and a kernel compiled for a caller compiles its callees
first (or loads them from the cache). Two processes started together compile the same shared
kernels side by side; here a process that needs a kernel the other compiles waits for it and
loads it from the cache:

- ``fused``: the L3 book's and detectors' kernels (compiled at their import), the detectors'
  stage the fused entries share (``_l2_pull``), the NinjaTrader converter, the heatmap's
  kernels; then, once the analytics stage is in the cache, the server's batches (the
  NinjaTrader entry ``fused_nt`` and ``fused_levels``, the depth forms);
- ``rest``: the book metrics' one-group kernel, then, once the L3 kernels are in the cache,
  the analytics stage the fused entries share (``_analytics``), the replay of the default
  recording (``fused_mbo``), and, once ``fused_nt`` is in the cache, the server's sessions and
  dashboard steps;
- ``backtest``, once both have ended, beside the warm-up proper (which has one core, loading
  what they compiled): ``orderflow backtest`` of the default recording with its default
  options, the simulated venue's matching kernels (``backtest.relevant``, ``backtest.scans``),
  which no other step reaches.

The shared stages are compiled for the types the entries pass them (:func:`_stage_types`),
so the entries link them in instead of compiling them again; were the types to differ, an
entry would compile its own (slower, the same result). The parts tell each other through
pipes (a byte written, or the pipe closed, when a step is done; a part that ends closes its
pipe), so one that fails never leaves the other waiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main", "wait_for"]


def wait_for(fd: int) -> bool:
    """Block until the other part writes a byte on ``fd`` (True) or ends (False)."""
    try:
        return os.read(fd, 1) != b""
    except OSError:
        return False


def _signal(fd: int) -> None:
    """One byte to the part waiting on the other end of ``fd`` (gone: nothing to tell)."""
    with contextlib.suppress(OSError):
        os.write(fd, b"1")


def _params_and_data() -> tuple[Any, Path]:
    """The warm-up's pipeline parameters and the default recording, as ``orderflow warmup``."""
    from orderflow.cli.context import settings
    from orderflow.settings import pipeline_params

    s = settings()
    params = pipeline_params(s)
    params = dataclasses.replace(params, pull=dataclasses.replace(params.pull, enabled=True))
    return params, Path(s.data.dir) / s.data.default_file


def _stage_types() -> dict[str, Any]:
    """The numba types the fused entries pass their shared stages (``_analytics``,
    ``_l2_pull``): every array a C-contiguous view of a table row (``T_KINDS``), grouped as
    ``_states`` groups them; a call compiled for these is the one the entries link in."""
    from numba import types

    from orderflow.engine import _fused_kernels as F

    def row(r: int) -> Any:
        kind, ndim = F.T_KINDS[r]
        return types.Array(types.int64 if kind == "i8" else types.float64, ndim, "C")

    def group(first: int, last: int) -> Any:
        tup: Any = types.Tuple  # (numba's type classes are untyped)
        return tup([row(r) for r in range(first, last + 1)])

    i1 = row(F.T_D_TS)
    head = (i1, types.int64, i1, row(F.T_D_LEVELS), row(F.T_TCOL), row(F.T_OFF))
    return {
        "analytics": (*head, row(F.T_MI), group(F.T_BM_PI, F.T_BM_PF),
                      group(F.T_MO_PF, F.T_MO_LAST), group(F.T_LQ_LI, F.T_LQ_MAT)),
        "l2_pull": (*head, group(F.T_L2_PF, F.T_L2_EXTRA), group(F.T_PU_ST, F.T_PU_OUT)),
    }  # fmt: skip


def _fused(analytics_in: int, l3_out: int) -> None:
    """The L3 kernels, the detectors' stage, the NinjaTrader converter and the heatmap's
    kernels, then (the analytics stage in the cache) the server's batches."""
    import orderflow.book._l3_kernels
    import orderflow.signals._l3_detect_kernels  # noqa: F401  (compiled at import)

    _signal(l3_out)
    from orderflow.cli.warmup import _warm_heat_columns, _warm_server
    from orderflow.engine import _fused_kernels as F

    F._l2_pull.compile(_stage_types()["l2_pull"])
    params, data = _params_and_data()
    if data.is_file():
        from orderflow.client.feed import build_batches
        from orderflow.io.formats import load_stream

        stream = load_stream(data)
        if stream.kind in ("mbo", "nt_depth"):
            build_batches(stream)
    _warm_heat_columns()
    wait_for(analytics_in)
    _warm_server(params, ready=lambda: os.close(l3_out), steps="batches")


def _rest(l3_in: int, analytics_out: int) -> None:
    """The book metrics' one-group kernel, then (the L3 kernels in the cache) the analytics
    stage, the replay of the default recording (the MBO entry) and (the NinjaTrader entry in
    the cache) the server's sessions and dashboard steps."""
    from orderflow.analytics._book_metrics_kernels import update_kernel

    update_kernel()
    wait_for(l3_in)  # (the pipeline's parameters load the engine, and the L3 kernels)
    from orderflow.engine import _fused_kernels as F

    F._analytics.compile(_stage_types()["analytics"])
    os.close(analytics_out)
    params, data = _params_and_data()
    if data.is_file():
        from orderflow.engine.runner import run_file

        run_file(data, params)
    while wait_for(l3_in):  # until the NinjaTrader entry is in the cache (or the part ended)
        pass
    from orderflow.cli.warmup import _warm_server

    _warm_server(params, steps="sessions")


def _backtest() -> None:
    """``orderflow backtest --data`` the default recording, its default options (results
    dropped): the simulated venue's matching kernels."""
    from orderflow.cli.context import settings
    from orderflow.settings import trading_params

    params, data = _params_and_data()
    if data.is_file():
        from orderflow.backtest.options import BacktestOptions
        from orderflow.backtest.run import run_backtest

        run_backtest([data], params, trading_params(settings()), BacktestOptions())


def _spawn(part: str, fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "orderflow.cli.warmup_jobs", part, *map(str, fds)]
    return subprocess.Popen(args, pass_fds=fds)


def main(after: Callable[[], int] | None = None) -> int:
    """Both parts in child processes, then the warm-up proper here; its exit status."""
    analytics_r, analytics_w = os.pipe()  # rest -> fused: the analytics stage is cached
    l3_r, l3_w = os.pipe()  # fused -> rest: the L3 kernels are
    fused = _spawn("fused", (analytics_r, l3_w))
    rest = _spawn("rest", (l3_r, analytics_w))
    for fd in (analytics_r, analytics_w, l3_r, l3_w):
        os.close(fd)
    failed = [name for name, p in (("fused", fused), ("rest", rest)) if p.wait() != 0]
    if failed:
        print(f"warm-up part {', '.join(failed)} failed; the warm-up proper compiles the rest",
              file=sys.stderr)  # fmt: skip
    backtest = _spawn("backtest", ())
    try:
        return (after or _proper)()
    finally:
        if backtest.wait() != 0:  # (its kernels are then compiled by the first backtest)
            print("warm-up part backtest failed", file=sys.stderr)


def _proper() -> int:
    """``orderflow warmup``: everything loaded from the cache, what is left compiled."""
    from orderflow.cli.warmup import warmup

    warmup(json=False, data=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fused":
        _fused(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "rest":
        _rest(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "backtest":
        _backtest()
    else:
        sys.exit(main())
