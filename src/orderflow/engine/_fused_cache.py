"""The fused kernels' numba cache, dropped when a source file they compile in has changed.

Numba keys a cached function on its own file's stamp (modification time and size) only. The
fused entry points (:mod:`orderflow.engine._fused_kernels`, :mod:`orderflow.engine._fused_prints`,
:mod:`orderflow.engine._fused_table`) compile in kernels and constants from other modules (the
books, the analytics, the detectors), so after an edit to, say, ``analytics/clusters.py`` alone,
numba would load the fused kernels cached from the OLD code and run them.

:data:`SOURCES` names every module whose code or constants the fused kernels reach (a test
derives the set from the kernels themselves and checks it equals this list). At import of the
fused kernels :func:`drop_stale` compares the stamps (``stat`` only, no hashing) of those files
with the ones stored beside numba's cache (:data:`STAMP_NAME`); when they differ, the fused
modules' cache files (index ``.nbi`` and data ``.nbc``) are removed before anything is compiled
or loaded, and the new stamps are stored.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

from orderflow.core.files import replace_atomically

__all__ = [
    "FUSED_MODULES",
    "SOURCES",
    "STAMP_NAME",
    "drop_stale",
    "guard",
    "source_files",
    "stamps",
]

#: the engine modules whose cached kernels are dropped (numba names their cache files
#: ``<module>.<function>-<line>.<python>.nbi`` / ``...nbc``)
FUSED_MODULES = ("_fused_kernels", "_fused_prints", "_fused_table")

#: every module the fused kernels' compiled code depends on: the modules of the jitted
#: functions they reach (transitively) and the orderflow modules those import at top level
#: (constants, dtypes, the jit options). Kept equal to what the kernels reach by a test.
SOURCES = (
    "orderflow.analytics._book_metrics_kernels",
    "orderflow.analytics._cluster_read_kernels",
    "orderflow.analytics.bars",
    "orderflow.analytics.clusters",
    "orderflow.analytics.delta",
    "orderflow.analytics.momentum",
    "orderflow.analytics.params",
    "orderflow.analytics.profile",
    "orderflow.analytics.vwap",
    "orderflow.book._jit",
    "orderflow.book._l2_kernels",
    "orderflow.book._l3_kernels",
    "orderflow.book.common",
    "orderflow.core.errors",
    "orderflow.engine._fused_cache",
    "orderflow.engine._fused_kernels",
    "orderflow.engine._fused_prints",
    "orderflow.engine._fused_table",
    "orderflow.engine.kept_imbalances",
    "orderflow.engine.kept_prints",
    "orderflow.model.dtypes",
    "orderflow.model.enums",
    "orderflow.model.instruments",
    "orderflow.model.session_times",
    "orderflow.signals._l2_detect_kernels",
    "orderflow.signals._l3_detect_kernels",
    "orderflow.signals._pull_detect_kernels",
)

#: the stamps' file, beside the fused modules' cache files
STAMP_NAME = "_fused_kernels.sources"


def source_files(modules: tuple[str, ...] = SOURCES) -> list[Path]:
    """The source files of ``modules`` (loaded ones from ``sys.modules``, others found without
    importing them)."""
    out = []
    for name in modules:
        mod = sys.modules.get(name)
        origin = getattr(mod, "__file__", None) if mod is not None else None
        if origin is None:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
        if origin is not None:
            out.append(Path(origin))
    return out


def stamps(files: list[Path]) -> str:
    """One line per file: its path, modification time (ns) and size; a missing file says so."""
    lines = []
    for f in files:
        try:
            st = os.stat(f)
            lines.append(f"{f}\t{st.st_mtime_ns}\t{st.st_size}")
        except OSError:
            lines.append(f"{f}\tmissing")
    return "\n".join(lines) + "\n"


def drop_stale(cache_dir: Path, files: list[Path] | None = None) -> bool:
    """Remove the fused modules' cache files in ``cache_dir`` unless the stamps stored there
    equal those of ``files`` (default: :data:`SOURCES`' files) now; store the new stamps.
    True when something was dropped (or there were no stamps yet). A cache folder that cannot
    be read or written is left as it is (numba then cannot use it either)."""
    now = stamps(source_files() if files is None else files)
    stamp = cache_dir / STAMP_NAME
    try:
        if stamp.read_text() == now:
            return False
    except OSError:
        pass
    try:
        names = os.listdir(cache_dir)
    except OSError:
        names = []
    for name in names:
        mod, _, rest = name.partition(".")
        if mod in FUSED_MODULES and (name.endswith(".nbi") or name.endswith(".nbc")) and rest:
            with contextlib.suppress(OSError):
                os.unlink(cache_dir / name)
    replace_atomically(stamp, now.encode())
    return True


def guard(dispatcher: object) -> bool:
    """:func:`drop_stale` on the cache folder numba uses for ``dispatcher`` (a fused kernel);
    nothing when numba has no cache folder for it."""
    cache = getattr(dispatcher, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    if path is None:
        return False
    return drop_stale(Path(path))
