"""A start with kernels missing from numba's cache: ``orderflow serve`` answers as soon as its
port is open, with ``warming``, while the missing kernels compile off the event loop (in the
child process a fresh install's start runs); requests during the warm phase are refused
retryably (503, code ``warming``, Retry-After), never left hanging; then it says ``ok`` and
applies batches. What it compiled is in the cache, and the warm-up covers real batches: a
second process warmed from that cache compiles nothing, and feeding the ESH4 recording through
its hub adds no type signature to any kernel (so the first batch after ``ok`` never waits for a
compiler).

The server's cache holds the suite's compiled kernels except those of the modules the server
itself looks for to tell a warm cache (``orderflow.cli.serve._HEAVY``): its start takes the
same path as on an empty cache (the compile in a child process, ``warming`` meanwhile) and
compiles those modules, without compiling again the kernels ``orderflow warmup`` compiled from
an empty cache before the suite. Without a filled cache beside the sources (the suite run
alone) the server's cache starts empty."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import ES_MBO, PROJECT_ROOT, need
from tests.serving import free_port, fresh_connections, write_config

BATCH = {
    "instrument": "ES 03-24",
    "seq": 1,
    "depth": [
        {
            "t": 1_703_545_200_000_000_000,
            "side": "bid",
            "op": "add",
            "pos": 0,
            "price": 4810.25,
            "size": 7,
        }
    ],
}
#: a hang detector, not a timing: a request the event loop cannot answer in this long is a hang
HANG_S = 10.0
#: a cold compile on a loaded 2-core machine; only a bound so a broken start cannot hang CI
WARM_DEADLINE_S = 900.0


def env_with(cache: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    path = os.pathsep.join((str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)))
    return {**base, "PYTHONPATH": path, "NUMBA_CACHE_DIR": str(cache)}


def cache_dir_of(source_dir: Path, root: Path | None) -> Path:
    """Where numba keeps the kernels of the modules in ``source_dir``: under ``root`` (the
    ``NUMBA_CACHE_DIR`` given) or, without one, in ``__pycache__`` beside them."""
    from numba.core.caching import UserProvidedCacheLocator

    if root is None:
        return source_dir / "__pycache__"
    return root / UserProvidedCacheLocator.get_suitable_cache_subpath(str(source_dir / "x.py"))


def seed_without_heavy(cache: Path) -> int:
    """``cache`` (a ``NUMBA_CACHE_DIR``) filled with this checkout's compiled kernels from the
    cache the suite runs on (with the fused kernels' source stamps, without which they would be
    dropped and compiled again), but for the modules ``orderflow serve`` looks for to tell a
    warm cache; the files copied."""
    from orderflow.cli.serve import _HEAVY
    from orderflow.engine._fused_cache import STAMP_NAME

    package = PROJECT_ROOT / "src" / "orderflow"
    heavy = {package / rel for rel in _HEAVY}
    user = os.environ.get("NUMBA_CACHE_DIR")
    copied = 0
    for source_dir in sorted({p.parent for p in package.rglob("*.py")}):
        skip = {h.stem for h in heavy if h.parent == source_dir}
        here = cache_dir_of(source_dir, Path(user) if user else None)
        there = cache_dir_of(source_dir, cache)
        for f in sorted([*here.glob("*.nb[ic]"), *here.glob(STAMP_NAME)]):
            if f.name.split(".")[0] not in skip:
                there.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, there / f.name)
                copied += 1
    return copied


def feed_one(port: int, out: dict[str, Any]) -> None:
    """An OrderflowClient connecting while the server warms up, sending one batch."""
    import asyncio

    import msgspec

    from orderflow.client.ws import OrderflowClient
    from orderflow.protocol import Batch

    async def run() -> None:
        batch = msgspec.convert({**BATCH, "instrument": "MES 03-24"}, Batch)
        async with OrderflowClient(f"ws://127.0.0.1:{port}/ws", "early") as c:
            await c.send_batch(batch)
            await c.drain(HANG_S)
            assert c.last_ack is not None
            out["ack"] = (c.last_ack.seq, c.last_ack.rejected)

    try:
        asyncio.run(run())
    except Exception as exc:  # reported by the assertion on ``out``
        out["error"] = repr(exc)


def first_answer(client: httpx.Client, proc: subprocess.Popen[bytes]) -> httpx.Response:
    """The first answer of ``/health``: polled until the port is open."""
    deadline = time.monotonic() + WARM_DEADLINE_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "orderflow serve ended"
        try:
            return client.get("/health")
        except httpx.ConnectError:
            time.sleep(0.02)
    raise AssertionError("the port never opened")


def test_a_cold_start_answers_warming_at_once_and_refuses_batches_retryably(
    tmp_path: Path,
) -> None:
    from orderflow.cli.serve import _HEAVY

    cache = tmp_path / "numba-cache"
    cache.mkdir()
    seed_without_heavy(cache)
    write_config(tmp_path)
    port = free_port()
    # a new connection for each request, as httpx.get makes, on one client (tests/serving.py)
    http = fresh_connections(base_url=f"http://127.0.0.1:{port}", timeout=HANG_S)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderflow.cli.main", "--config", str(tmp_path / "config.yaml"),
         "serve", "--port", str(port)],
        cwd=tmp_path, env=env_with(cache), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        first = first_answer(http, proc)
        # the port answers before the kernels are there: honestly, and at once
        assert first.status_code == 503 and first.json()["status"] == "warming", first.text
        assert first.headers["retry-after"] == "1"
        r = http.post("/l2_update", json=BATCH)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        error = r.json()["error"]
        assert error["code"] == "warming" and error["details"]["retry_after_s"] == 1
        assert http.get("/api/positions").status_code == 503
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}/ws", open_timeout=HANG_S)
        assert refused.value.response.status_code == 503
        # the Python client started now waits for the server (Retry-After) and then feeds it
        early: dict[str, Any] = {}
        client = threading.Thread(target=feed_one, args=(port, early), daemon=True)
        client.start()
        # every /health during the warm-up is answered (a timeout fails the test), then ok
        seen = ["warming"]
        deadline = time.monotonic() + WARM_DEADLINE_S
        while seen[-1] != "ok":
            assert time.monotonic() < deadline and proc.poll() is None
            status = http.get("/health").json()["status"]
            if status != seen[-1]:
                seen.append(status)
            time.sleep(0.1)
        assert seen == ["warming", "ok"]
        r = http.post("/l2_update", json=BATCH)
        assert r.status_code == 200 and r.json()["seq"] == 1 and r.json()["rejected"] == {}
        assert http.get("/api/book/ES 03-24").json()["bid"] == [{"price": 4810.25, "size": 7}]
        client.join(WARM_DEADLINE_S)
        assert early.get("ack") == (1, {}), early
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        log.close()
        http.close()
    # what the start compiled is in the server's cache (the kernels called only from the
    # fused step, cached whole, are not compiled on their own)
    heavy = [PROJECT_ROOT / "src" / "orderflow" / rel for rel in _HEAVY]
    compiled = [f for h in heavy for f in cache_dir_of(h.parent, cache).glob(f"{h.stem}.*.nbi")]
    assert compiled, "the start compiled none of the kernels missing from its cache"
    assert_warm_covers_real_batches(cache)


PROBE = """
import json, logging, sys
logging.disable(logging.WARNING)
from orderflow.cli.warmup import warm_kernels
from numba.core.dispatcher import Dispatcher
warm_kernels()
def kernels():
    out = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("orderflow.") and module is not None:
            for v in list(vars(module).values()):
                if isinstance(v, Dispatcher):
                    out[v.py_func.__module__ + "." + v.py_func.__qualname__] = v
    return out
def misses():
    return {k: len(v._cache_misses) for k, v in kernels().items() if v._cache_misses}
def signatures():
    return {k: sorted(map(str, v.signatures)) for k, v in kernels().items()}
before = misses()
from orderflow.client.feed import build_batches
from orderflow.io.formats import load_stream
from orderflow.server.hub import Hub
batches = build_batches(load_stream(sys.argv[1]))  # the feeder's kernels: not the server's
fed = signatures()
hub = Hub()
for fb in batches:
    hub.apply(fb.batch, "nt8")
after = signatures()
added = {k: sorted(set(v) - set(fed.get(k, []))) for k, v in after.items() if v != fed.get(k)}
print(json.dumps({"before": before, "added": added, "batches": len(batches)}))
"""


def assert_warm_covers_real_batches(cache: Path) -> None:
    """A process on the server's cache: the warm-up compiles nothing, and feeding the ESH4
    recording's batches through a hub asks no kernel for a type signature the warm-up did not
    (whatever else the cache holds: a signature another test compiled into it counts too)."""
    data = need(ES_MBO)
    args = [sys.executable, "-c", PROBE, str(data)]
    out = subprocess.run(args, env=env_with(cache), capture_output=True, text=True,
                         timeout=WARM_DEADLINE_S, check=True)  # fmt: skip
    got: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["batches"] > 400
    assert got["before"] == {}, "the server's warm-up did not leave these in the cache"
    assert got["added"] == {}, "real batches need kernel signatures the warm-up does not cover"


def test_a_start_that_fails_while_warming_ends_with_one_line(tmp_path: Path) -> None:
    """The application is built after the port opened: a journal that cannot be opened still
    ends the process with the one-line error and a non-zero exit, not a server left warming."""
    from tests.serving import Serve

    journal = tmp_path / "journal" / "orderflow.sqlite"
    journal.mkdir(parents=True)  # a folder where the SQLite file should be
    write_config(tmp_path, {"trading": {"journal": str(journal),
                                        "server": {"use_sessions": False}}})  # fmt: skip
    s = Serve(tmp_path, expect_exit=True, timeout_s=WARM_DEADLINE_S)
    out = s.output()
    assert s.returncode == 2, out
    lines = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and str(journal) in lines[0] and "Traceback" not in out, out
