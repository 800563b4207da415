"""The fused kernels' numba cache is dropped when a module they compile in changed, kept when
none did; and the list of those modules is the one the kernels actually reach."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import types
from pathlib import Path

from numba.core.caching import _CacheLocator
from numba.core.dispatcher import Dispatcher

from orderflow.engine import _fused_cache as C
from orderflow.engine import _fused_kernels as F


def _top_imports(mod: types.ModuleType) -> dict[str, str]:
    """Name -> the orderflow module it is imported from, at the module's top level."""
    out: dict[str, str] = {}
    for node in ast.parse(inspect.getsource(mod)).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("orderflow"):
            for a in node.names:  # a submodule by its own name, else the module
                sub = f"{node.module}.{a.name}"
                out[a.asname or a.name] = sub if sub in sys.modules else str(node.module)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("orderflow"):
                    out[a.asname or a.name] = a.name
    return out


def _reached() -> set[str]:
    """The modules whose jitted functions the fused entry points reach (transitively, through
    globals, module attributes and imported names), and the orderflow modules those import."""
    mods: set[str] = set()
    seen: set[int] = set()
    todo: list[Dispatcher] = [F.fused_mbo, F.fused_nt, F.fused_levels]
    while todo:
        d = todo.pop()
        if id(d) in seen:
            continue
        seen.add(id(d))
        fn = d.py_func
        mods.add(fn.__module__)
        frm = _top_imports(sys.modules[fn.__module__])
        names: set[str] = set()
        codes = [fn.__code__]
        while codes:
            c = codes.pop()
            names |= set(c.co_names)
            codes += [k for k in c.co_consts if isinstance(k, types.CodeType)]
        for n in names:
            g = fn.__globals__.get(n)
            if isinstance(g, Dispatcher):
                todo.append(g)
            elif isinstance(g, types.ModuleType) and g.__name__.startswith("orderflow"):
                mods.add(g.__name__)
                todo += [h for h in (getattr(g, m, None) for m in names)
                         if isinstance(h, Dispatcher)]  # fmt: skip
            elif n in frm:
                mods.add(frm[n])
    for name in list(mods):
        mods |= set(_top_imports(sys.modules[name]).values())
    return mods


def test_sources_are_what_the_fused_kernels_reach() -> None:
    reached = _reached()
    # sanity: the derivation sees kernels reached only through other kernels' modules
    assert {
        "orderflow.analytics.clusters",
        "orderflow.analytics.bars",
        "orderflow.signals._pull_detect_kernels",
        "orderflow.book._jit",
    } <= reached
    assert sorted(reached) == sorted(C.SOURCES)
    files = C.source_files()
    assert len(files) == len(C.SOURCES) and all(f.is_file() for f in files)


_CACHED = (
    "_fused_kernels.fused_mbo-640.py312.nbi",
    "_fused_kernels.fused_mbo-640.py312.1.nbc",
    "_fused_prints.prints_stage-69.py312.nbi",
    "_fused_table._i1-46.py312.2.nbc",
)
_OTHERS = ("clusters._liq_depth-90.py312.nbi", "clusters._liq_depth-90.py312.1.nbc", "notes.txt")


def _plant(cache: Path) -> None:
    for name in _CACHED + _OTHERS:
        (cache / name).write_bytes(b"x")


def _left(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir()} - {C.STAMP_NAME}


def test_drop_stale_on_a_dependency_stamp(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    dep = tmp_path / "clusters.py"
    dep.write_text("A = 1\n")
    other = tmp_path / "momentum.py"
    other.write_text("B = 2\n")
    files = [dep, other]
    _plant(cache)
    assert C.drop_stale(cache, files)  # no stamps yet: whatever is cached is of unknown code
    assert _left(cache) == set(_OTHERS)
    _plant(cache)
    assert not C.drop_stale(cache, files)  # unchanged: kept
    assert _left(cache) == set(_CACHED + _OTHERS)
    st = os.stat(dep)
    os.utime(dep, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # an edit's new stamp
    assert C.drop_stale(cache, files)
    assert _left(cache) == set(_OTHERS)  # only the fused modules' files went
    _plant(cache)
    assert not C.drop_stale(cache, files)
    dep.write_text("A = 10\n")  # a change of size at the same second still differs
    os.utime(dep, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert C.drop_stale(cache, files)
    assert _left(cache) == set(_OTHERS)
    _plant(cache)
    dep.unlink()  # a dependency gone
    assert C.drop_stale(cache, files)
    assert _left(cache) == set(_OTHERS)


_PROBE = """
import os
import sys
import numba
for name in sys.argv[2:]:  # the dependencies with their usual cache (compiled once, not per test)
    __import__(name)
os.environ["NUMBA_CACHE_DIR"] = sys.argv[1]  # for the fused modules alone
numba.core.config.reload_config()
from orderflow.engine import _fused_kernels as F
print(F.fused_mbo._cache._cache_path)
"""


def _import_fused(numba_cache: Path) -> Path:
    """Import the fused kernels in a fresh interpreter, numba caching them in ``numba_cache``:
    the folder numba uses for them."""
    deps = [m for m in C.SOURCES if not m.startswith("orderflow.engine")]
    out = subprocess.run([sys.executable, "-c", _PROBE, str(numba_cache), *deps],
                         capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return Path(out.stdout.strip().splitlines()[-1])


def test_import_guards_numbas_own_cache_folder(tmp_path: Path) -> None:
    """The import of the real fused kernels checks the stamps in the very folder numba caches
    them in (a tmp NUMBA_CACHE_DIR here): dropped when the stored stamps differ (as after an edit of
    analytics/clusters.py), kept when they are unchanged."""
    cache = tmp_path / _CacheLocator.get_suitable_cache_subpath(F.__file__)
    cache.mkdir(parents=True)
    stamp = cache / C.STAMP_NAME
    lines = C.stamps(C.source_files()).splitlines()
    k = next(i for i, line in enumerate(lines) if line.split("\t")[0].endswith("clusters.py"))
    path, mtime, size = lines[k].split("\t")
    lines[k] = f"{path}\t{int(mtime) - 1}\t{size}"  # stored before clusters.py's last edit
    stamp.write_text("\n".join(lines) + "\n")
    _plant(cache)
    assert _import_fused(tmp_path) == cache
    assert _left(cache) == set(_OTHERS)
    assert stamp.read_text() == C.stamps(C.source_files())
    _plant(cache)
    assert _import_fused(tmp_path) == cache
    assert _left(cache) == set(_CACHED + _OTHERS)
