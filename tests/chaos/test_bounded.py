"""Bounded and fair, tried as an attacker on 127.0.0.1 would: decompression bombs in every
reader that inflates a file, half-open HTTP connections, and clients that flood the engine
each within its own rate limits while a bridge-like client feeds its batches.

Nothing here asserts a timing: the bombs are judged by their error and the child's peak RSS
(a memory bound), the half-open connections by being closed and the server still answering,
the flood by the bridge's acks arriving in order, with no error, and ``/health`` answering.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import re
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest
import zstandard
from websockets.sync.client import connect

from orderflow.core.errors import DecompressionLimitError
from orderflow.io import cme_bars, dbn, formats, stream
from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.conftest import ESH1_DIR, PROJECT_ROOT, need
from tests.serving import Serve, http, write_config

#: what a bomb expands to when nothing stops it
BOMB_BYTES = 4 << 30
#: peak RSS a capped read may reach (the whole-file readers hold the capped bytes once or twice)
RSS_BOUND = 1 << 30
CHILD_ENV = {"PYTHONPATH": f"{PROJECT_ROOT / 'src'}{os.pathsep}{PROJECT_ROOT}"}


def _zstd_bomb(prefix: bytes, unit: bytes, total: int = BOMB_BYTES) -> bytes:
    """One zstd frame: ``prefix`` then ``unit`` repeated up to ``total`` bytes (a few hundred KB
    of zstd for 4 GiB)."""
    out = io.BytesIO()
    writer = zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False)
    writer.write(prefix)
    block = unit * max(1, (1 << 20) // len(unit))
    left = total - len(prefix)
    while left > 0:
        piece = block[: min(len(block), left)]
        writer.write(piece)
        left -= len(piece)
    writer.flush(zstandard.FLUSH_FRAME)
    return out.getvalue()


def _dbn_parts(name: str) -> tuple[bytes, bytes]:
    """The header (``DBN``, version, metadata) and first record of a real fixture file."""
    raw = (
        zstandard.ZstdDecompressor()
        .stream_reader(need(ESH1_DIR / f"test_data.{name}.dbn.zst").read_bytes())
        .read()
    )
    (meta_len,) = struct.unpack_from("<I", raw, 4)
    end = 8 + meta_len
    return raw[:end], raw[end : end + raw[end] * 4]


@pytest.fixture(scope="module")
def mbo_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    header, record = _dbn_parts("mbo")
    path = tmp_path_factory.mktemp("bombs") / "bomb.mbo.dbn.zst"
    path.write_bytes(_zstd_bomb(header, record))
    return path


def _run_cli(*args: str) -> tuple[int, str, int]:
    """``orderflow ARGS`` as a child: its exit code, its stderr and its peak RSS in bytes (the
    child's own rusage, from wait4)."""
    env = {**os.environ, **CHILD_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "orderflow.cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = proc.stdout, proc.stderr
    assert out is not None and err is not None
    stderr = err.read().decode()
    out.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, stderr, usage.ru_maxrss * 1024


def test_book_replay_of_a_zstd_bomb_fails_fast_with_one_line_and_bounded_memory(
    mbo_bomb: Path,
) -> None:
    assert mbo_bomb.stat().st_size < 1 << 20  # a few hundred KB that would expand to 4 GiB
    code, stderr, peak = _run_cli("book", "replay", str(mbo_bomb))
    assert code != 0
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "bomb.mbo.dbn.zst" in lines[0] and "decompression bomb" in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert peak < RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"


def test_streamed_mbo_reader_stops_at_the_cap(mbo_bomb: Path) -> None:
    with pytest.raises(DecompressionLimitError) as err:
        for _ in dbn.iter_mbo_chunks(mbo_bomb, chunk_records=65_536):
            pass
    assert err.value.details["file"] == "bomb.mbo.dbn.zst"
    assert 0 < err.value.details["limit_bytes"] < 128 << 20


def test_whole_file_dbn_readers_stop_at_the_cap(tmp_path: Path) -> None:
    """``open_dbn`` (every schema but MBO, through ``load_stream``) and ``decode_records``
    (definitions) read a file whole: the cap holds there too."""
    header, record = _dbn_parts("mbp-10")
    bomb = tmp_path / "bomb.mbp-10.dbn.zst"
    bomb.write_bytes(_zstd_bomb(header, record, 1 << 30))
    with pytest.raises(DecompressionLimitError, match=re.escape("bomb.mbp-10.dbn.zst")):
        dbn.open_dbn(bomb)
    with pytest.raises(DecompressionLimitError, match=re.escape("bomb.mbp-10.dbn.zst")):
        formats.load_stream(bomb)
    header, record = _dbn_parts("definition")
    defs = tmp_path / "bomb.definition.dbn.zst"
    defs.write_bytes(_zstd_bomb(header, record, 1 << 30))
    with pytest.raises(DecompressionLimitError, match=re.escape("bomb.definition.dbn.zst")):
        dbn.read_definitions(defs)


def test_a_header_claiming_gigabytes_of_metadata_stops_at_the_cap(tmp_path: Path) -> None:
    """A DBN header whose metadata length says 4 GiB: the header readers (format detection,
    the streamed MBO header) stop at the cap instead of reading it all."""
    bomb = tmp_path / "header.dbn.zst"
    bomb.write_bytes(_zstd_bomb(b"DBN\x02" + struct.pack("<I", 0xFFFF_FFF0), b"\0", 1 << 30))
    with pytest.raises(DecompressionLimitError, match=re.escape("header.dbn.zst")):
        dbn.dbn_schema(bomb)
    with pytest.raises(DecompressionLimitError, match=re.escape("header.dbn.zst")):
        stream._dbn_header(bomb)
    with pytest.raises(DecompressionLimitError, match=re.escape("header.dbn.zst")):
        next(dbn.iter_mbo_chunks(bomb))


def test_gzip_bars_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    line = b"2024-01-02T00:00:00Z,1.1,1.1,1.1,1.1,1\n"
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as gz:
        gz.write(b"timestamp_utc,open,high,low,close,volume\n")
        block = line * 25_000
        for _ in range((256 << 20) // len(block)):
            gz.write(block)
    bomb = tmp_path / "6EH4.bars.csv.gz"
    bomb.write_bytes(out.getvalue())
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DecompressionLimitError, match=re.escape("6EH4.bars.csv.gz")):
        cme_bars.read_cme_bars(bomb)


# ---------------------------------------------------------------------------- connections


def _serve(folder: Path, **server: object) -> Serve:
    write_config(folder, {"server": {"record_dir": None, **server},
                          "trading": {"server": {"enabled": False}}})  # fmt: skip
    return Serve(folder, env=CHILD_ENV)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def _closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    """Whether the server closes ``sock`` (EOF, after a 408 or nothing) within ``wait_s``."""
    sock.settimeout(wait_s)
    try:
        while data := sock.recv(4096):
            assert data.startswith(b"HTTP/1.1 408"), data
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _wait_closed(socks: list[socket.socket], wait_s: float) -> list[socket.socket]:
    """Wait until the server has closed every socket (or ``wait_s`` passed); those still open."""
    left = {s.fileno(): s for s in socks}
    deadline = time.monotonic() + wait_s
    while left and time.monotonic() < deadline:
        ready, _, _ = select.select(list(left.values()), [], [], 0.5)
        for s in ready:
            if _closed_by_server(s, 0.5):
                del left[s.fileno()]
    return list(left.values())


def test_500_half_open_connections_are_closed_and_the_server_still_answers(
    tmp_path: Path,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    srv = _serve(tmp_path)  # the defaults: headers within 5 s
    socks: list[socket.socket] = []
    try:
        for i in range(500):
            s = socket.create_connection(("127.0.0.1", srv.port))
            if i % 2:  # the start of a request, and then nothing (slowloris)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(s)  # else: connected, and nothing ever sent
        assert http().get(f"{srv.http}/health", timeout=30).status_code == 200
        still_open = _wait_closed(socks, 60.0)
        assert not still_open, f"{len(still_open)} of 500 still open"
        metrics = http().get(f"{srv.http}/metrics", timeout=30).text
        assert _metric(metrics, 'orderflow_http_closed_total{reason="header_timeout"}') >= 500
        assert http().get(f"{srv.http}/health", timeout=30).json()["status"]
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_connections_beyond_the_cap_are_closed_at_once_and_the_cap_frees_up() -> None:
    from orderflow.server.watchdog import ConnectionLimits

    limits = ConnectionLimits(header_timeout_s=300.0, idle_timeout_s=300.0, max_connections=20)
    srv = ThreadedServer(create_app(), limits=limits)
    socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(30)]
    try:
        assert _closed_by_server(socks[-1], 60.0)  # the last is beyond the cap
        assert sum(_closed_by_server(s, 0.01) for s in socks) == 10
        for s in socks:
            s.close()
        socks = []
        for _ in range(100):  # the server has seen them go
            if http().get(f"{srv.http}/health", timeout=10).status_code == 200:
                break
        metrics = http().get(f"{srv.http}/metrics", timeout=10).text
        assert _metric(metrics, 'orderflow_http_closed_total{reason="max_connections"}') >= 10
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_a_stalled_request_body_is_closed_after_the_idle_timeout() -> None:
    from orderflow.server.watchdog import ConnectionLimits

    limits = ConnectionLimits(header_timeout_s=1.0, idle_timeout_s=1.0, max_connections=100)
    srv = ThreadedServer(create_app(), limits=limits)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b'POST /l2_update HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"in')
        assert _closed_by_server(s, 60.0)
        s.close()
        assert http().get(f"{srv.http}/health", timeout=10).status_code == 200
    finally:
        srv.stop()


# ---------------------------------------------------------------------------- fairness

FLOODERS = 50
FLOOD_BATCHES = 100  # each flooder's work: about 10,000 depth events
BRIDGE_BATCHES = 30


def _flood_names(n: int) -> list[str]:
    return [f"{r} {m}-{y}" for y in range(25, 35) for r in ("ES", "MES", "NQ", "MNQ")
            for m in ("03", "06", "09", "12")][:n]  # fmt: skip


class Flood:
    """``FLOODERS`` WebSocket clients in a thread of their own, each pipelining
    ``FLOOD_BATCHES`` batches of its own instrument as fast as the server reads them and
    reading every ack (none is a slow consumer, and each stays within its rate limits)."""

    def __init__(self, url: str, batches: list[bytes]) -> None:
        self.url, self.batches = url, batches
        self.acked = 0  # batches acknowledged, all flooders
        self.errors: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()

    @property
    def total(self) -> int:
        return FLOODERS * len(self.batches)

    async def _one(self, name: str) -> None:
        import websockets

        try:
            async with websockets.connect(self.url, max_size=None, open_timeout=120,
                                          ping_timeout=None) as ws:  # fmt: skip
                await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": name,
                                          "encoding": "msgpack"}))  # fmt: skip
                await ws.recv()

                async def send() -> None:
                    for raw in self.batches:
                        batch = msgspec.msgpack.decode(raw)
                        await ws.send(msgspec.msgpack.encode({**batch, "instrument": name}))

                sender = asyncio.create_task(send())
                last = len(self.batches)
                while True:
                    msg = msgspec.msgpack.decode(await ws.recv())
                    if msg["type"] == "error":
                        self.errors.append(f"{name}: {msg}")
                        return
                    if msg["type"] == "ack":
                        self.acked += msg["seq"] - (msg.get("first_seq") or msg["seq"]) + 1
                        if msg["seq"] == last:
                            break
                await sender
        except Exception as exc:  # reported, and the test fails on it
            self.errors.append(f"{name}: {exc!r}")

    async def _main(self) -> None:
        await asyncio.gather(*(self._one(n) for n in _flood_names(FLOODERS)))
        self.done.set()


def test_flooding_clients_do_not_starve_the_bridge_or_health(tmp_path: Path) -> None:
    """50 clients each push 100 batches (5,000 in all) as fast as the server reads them;
    a bridge-like client then sends 30 batches one at a time. Every bridge ack comes, in
    order and without an error, and /health answers, while the flood is still running: the
    engine's time is shared, not taken in turn by whoever queued most."""
    from tests.integration.test_server import esh4_batches

    batches = [b for b in esh4_batches()[0] if len(b.depth) >= 100]
    flood_frames = [msgspec.msgpack.encode(msgspec.structs.replace(b, seq=i))
                    for i, b in enumerate(batches[:FLOOD_BATCHES], start=1)]  # fmt: skip
    srv = _serve(tmp_path)
    try:
        flood = Flood(srv.ws, flood_frames)
        while flood.acked < FLOODERS and not flood.done.is_set():  # the flood is under way
            time.sleep(0.05)
        health: list[int] = []
        with connect(srv.ws, max_size=None, open_timeout=120) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8",
                                "encoding": "msgpack"}))  # fmt: skip
            assert msgspec.msgpack.decode(ws.recv())["type"] == "welcome"
            for i, b in enumerate(batches[:BRIDGE_BATCHES], start=1):
                ws.send(msgspec.msgpack.encode(msgspec.structs.replace(b, seq=i)))
                while True:
                    msg = msgspec.msgpack.decode(ws.recv())
                    assert msg["type"] != "error", msg
                    if msg["type"] == "ack":
                        break
                assert msg["seq"] == i and not msg["stale"]
                assert sum(msg["applied"].values()) >= len(b.depth)
                if i % 10 == 0:
                    health.append(http().get(f"{srv.http}/health", timeout=120).status_code)
            flood_acked_when_bridge_done = flood.acked
        assert health == [200, 200, 200]
        assert flood_acked_when_bridge_done < flood.total, "the flood ended before the bridge"
        assert flood.done.wait(300), "the flood did not finish"
        assert flood.errors == []
        assert flood.acked == flood.total
        metrics = http().get(f"{srv.http}/metrics", timeout=30).text
        assert _metric(metrics, 'orderflow_engine_turns_total{kind="contended"}') > 0
        assert _metric(metrics, "orderflow_engine_overloaded_total") == 0
    finally:
        srv.stop()
