"""Hostile input against the real server (``orderflow serve`` in a subprocess on a tmp folder):
a batch is validated whole before anything is recorded or applied. Refused input answers 400
naming the field, is never written to the recording, opens no file, leaves the book as it was,
and so cannot stop the next start; thousands of instrument names cannot exhaust the process's
file descriptors."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.server.recording import check_recording, recording_files
from tests.conftest import PROJECT_ROOT
from tests.serving import Serve, http, write_config

pytestmark = pytest.mark.slow

#: a minute ago: inside the plausible window of a live feed, and the same UTC day's recording
#: as the receive time (except in the first minute after midnight, which the tests avoid)
T0 = time.time_ns() - 60 * 1_000_000_000
INSTRUMENT = "ES 03-24"
BIG = 1 << 63  # one past int64
#: the server runs this tree's code (src layout), whatever is installed in the environment
ENV = {"PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)])}


def serve(folder: Path, **kwargs: Any) -> Serve:
    return Serve(folder, env=ENV, **kwargs)


def depth(t: int, side: str, pos: int, price: float, size: int, op: str = "add") -> dict[str, Any]:
    return {"t": t, "side": side, "op": op, "pos": pos, "price": price, "size": size}


def snapshot(seq: int = 0) -> dict[str, Any]:
    """A two-sided ES ladder, three rows a side."""
    rows = [depth(T0 + i, "bid", i, 4810.0 - 0.25 * i, 5 + i) for i in range(3)]
    rows += [depth(T0 + 3 + i, "ask", i, 4810.25 + 0.25 * i, 7 + i) for i in range(3)]
    return {"instrument": INSTRUMENT, "seq": seq, "snapshot": True, "depth": rows}


def update(seq: int, k: int) -> dict[str, Any]:
    """Row 0 of the bid side to size ``10 + k``: each batch leaves its mark on the book."""
    return {"instrument": INSTRUMENT, "seq": seq,
            "depth": [depth(T0 + 100 + k, "bid", 0, 4810.0, 10 + k, "update")]}  # fmt: skip


def book(s: Serve, instrument: str = INSTRUMENT) -> dict[str, Any]:
    r = http().get(f"{s.http}/api/book/{instrument}", params={"levels": 10}, timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return {"bid": out["bid"], "ask": out["ask"]}


def post(s: Serve, body: bytes | dict[str, Any], route: str = "/l2_update") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http().post(f"{s.http}{route}", content=content, timeout=30)


def frames(folder: Path) -> int:
    """Whole frames recorded under ``folder/recordings`` (no torn or corrupt ones)."""
    total = 0
    for f in recording_files(folder / "recordings"):
        check = check_recording(f)
        assert check.corrupt_at is None and check.torn_bytes == 0, check.to_dict()
        total += check.frames
    return total


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def hello(ws: Any, client: str, encoding: str = "json") -> dict[str, Any]:
    """Say hello on a fresh WebSocket; the welcome."""
    ws.send(json.dumps({"type": "hello", "protocol": 1, "client": client, "encoding": encoding}))
    raw = ws.recv(timeout=30)
    msg: dict[str, Any] = msgspec.msgpack.decode(raw) if encoding == "msgpack" else json.loads(raw)
    assert msg["type"] == "welcome", msg
    return msg


def ws_error(ws: Any, frame: bytes | str, encoding: str = "json") -> dict[str, Any]:
    """Send one frame, read the answer: it must be an error."""
    ws.send(frame)
    raw = ws.recv(timeout=30)
    msg: dict[str, Any] = msgspec.msgpack.decode(raw) if encoding == "msgpack" else json.loads(raw)
    assert msg["type"] == "error", msg
    return msg


def test_int64_overflow_is_refused_everywhere_and_the_restart_keeps_the_book(tmp_path):
    """The attack that bricked the restart: an integer past int64 by REST, by WebSocket (JSON
    and MessagePack, events and columns). Each is a 400 naming the field, nothing of it is
    recorded, the book is unchanged, and after ``kill -9`` the server starts on the same
    folder with the same book."""
    write_config(tmp_path)
    s = serve(tmp_path)
    try:
        assert post(s, snapshot()).status_code == 200
        assert post(s, update(0, 1)).status_code == 200
        before = book(s)
        assert before["bid"][0] == {"price": 4810.0, "size": 11}
        over_t = {"instrument": INSTRUMENT, "depth": [depth(BIG, "bid", 0, 4810.0, 1, "update")]}
        over_size = {"instrument": INSTRUMENT,
                     "depth": [depth(T0, "bid", 0, 4810.0, 1, "update"),
                               depth(T0, "bid", 1, 4809.75, BIG, "update")]}  # fmt: skip
        over_seq = {**update(0, 9), "seq": BIG}
        over_bar = {"instrument": INSTRUMENT, "bars": [{"series": 0, "t": BIG, "open": 1.0,
                    "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1}]}  # fmt: skip
        over_order = {"instrument": INSTRUMENT, "orders": [{"t": T0, "cid": "of-1",
                      "state": "Working", "quantity": BIG}]}  # fmt: skip
        for route, body, field in [
            ("/l2_update", over_t, "depth[0].t"),
            ("/l2_update", over_size, "depth[1].size"),
            ("/l2_update", over_seq, "seq"),
            ("/bar_update", over_bar, "bars[0].t"),
            ("/order_update", over_order, "orders[0].quantity"),
        ]:
            r = post(s, body, route)
            assert r.status_code == 400, r.text
            assert r.json()["error"]["details"]["field"] == field
        with connect(s.ws, max_size=None) as ws:
            hello(ws, "attacker")
            err = ws_error(ws, json.dumps({"type": "batch", **over_t, "seq": 1}))
            assert err["field"] == "depth[0].t"
            cols = {"type": "batch", "instrument": INSTRUMENT, "seq": 1, "columns": {
                "t": [T0, BIG], "side": "bb", "op": "uu", "pos": [0, 1],
                "price": [4810.0, 4809.75], "size": [1, 2]}}  # fmt: skip
            assert ws_error(ws, json.dumps(cols))["field"] == "columns.t[1]"
        with connect(s.ws, max_size=None) as ws:
            hello(ws, "attacker-mp", "msgpack")
            for value in (BIG, (1 << 64) - 1):
                bad = {"type": "batch", "instrument": INSTRUMENT, "seq": 1,
                       "depth": [depth(T0, "bid", 0, 4810.0, value, "update")]}  # fmt: skip
                err = ws_error(ws, msgspec.msgpack.encode(bad), "msgpack")
                assert err["field"] == "depth[0].size"
        assert book(s) == before
        assert frames(tmp_path) == 2  # the two good batches, nothing else
    finally:
        s.kill()
    again = serve(tmp_path)
    try:
        assert book(again) == before
        assert post(again, update(0, 2)).status_code == 200
        assert book(again)["bid"][0] == {"price": 4810.0, "size": 12}
    finally:
        again.stop()


def test_non_finite_and_absurd_numbers_and_times_are_refused_by_name(tmp_path):
    """NaN and infinities (JSON has no NaN, but 1e400 is infinity; MessagePack carries both),
    prices beyond any instrument, times in the wrong unit or far in the future: 400 naming
    the field, book unchanged, nothing recorded."""
    write_config(tmp_path)
    s = serve(tmp_path)
    try:
        assert post(s, snapshot()).status_code == 200
        before = book(s)
        one = [depth(T0, "bid", 0, 4810.0, 3, "update")]
        cases = [
            (b'{"instrument": "ES 03-24", "depth": [{"t": %d, "side": "bid", "op": "update",'
             b' "pos": 0, "price": 1e400, "size": 3}]}' % T0, "depth[0].price"),
            (b'{"instrument": "ES 03-24", "depth": [{"t": %d, "side": "bid", "op": "update",'
             b' "pos": 0, "price": NaN, "size": 3}]}' % T0, "message"),
            ({"instrument": INSTRUMENT, "depth": [{**one[0], "price": 1e12}]}, "depth[0].price"),
            ({"instrument": INSTRUMENT, "ticks": [{"t": T0, "price": 4810.0, "size": 1,
              "bid": -1e300}]}, "ticks[0].bid"),
            ({"instrument": INSTRUMENT, "depth": [{**one[0], "t": T0 // 1_000_000}]},
             "depth[0].t"),  # ms taken as ns: 1970
            ({"instrument": INSTRUMENT, "depth": [{**one[0], "t": T0 + 3 * 86_400 * 10**9}]},
             "depth[0].t"),  # three days ahead
            ({"instrument": INSTRUMENT, "executions": [{"t": T0, "cid": "of-1",
              "execution_id": "x1", "price": 4810.0, "quantity": 1, "market_position": "Long",
              "commission": 1e300}]}, "executions[0].commission"),
        ]  # fmt: skip
        for body, field in cases:
            r = post(s, body)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["error"]["details"]["field"] == field, r.text
        with connect(s.ws, max_size=None) as ws:
            hello(ws, "nan", "msgpack")
            for value in (float("nan"), float("inf"), -float("inf")):
                bad = {"type": "batch", "instrument": INSTRUMENT, "seq": 1,
                       "depth": [{**one[0], "price": value}]}  # fmt: skip
                err = ws_error(ws, msgspec.msgpack.encode(bad), "msgpack")
                assert err["field"] == "depth[0].price"
            bad = {"type": "batch", "instrument": INSTRUMENT, "seq": 1, "bars": [{"series": 0,
                   "t": T0, "open": float("nan"), "high": 1.0, "low": 1.0, "close": 1.0,
                   "volume": 1}]}  # fmt: skip
            assert ws_error(ws, msgspec.msgpack.encode(bad), "msgpack")["field"] == "bars[0].open"
        assert book(s) == before
        assert frames(tmp_path) == 1
    finally:
        s.stop()


def test_path_names_and_unknown_instruments_open_no_file(tmp_path):
    """``..``, ``/``, ``\\`` and overlong names are refused by the protocol's name pattern;
    unknown instruments with valid-looking names are refused before anything is recorded:
    no folder is made, no file is opened, nothing lands outside ``recordings/``."""
    write_config(tmp_path)
    s = serve(tmp_path)
    try:
        outside = sorted(p.name for p in tmp_path.iterdir())
        fds = open_fds(s.proc.pid)
        for name in ["..", "../evil", "ES/../../x", "a/b", "/etc", "..\\x", "ES 03-24/..",
                     ".hidden", "x" * 33, "ES 03-24\n", ""]:  # fmt: skip
            r = post(s, {"instrument": name, "ticks": [{"t": T0, "price": 1.0, "size": 1}]})
            assert r.status_code == 400, (name, r.text)
            assert r.json()["error"]["details"]["field"] == "instrument"
        for i in range(50):
            r = post(s, {"instrument": f"QQ{i} 03-24", "ticks": [{"t": T0, "price": 1.0,
                         "size": 1}]})  # fmt: skip
            assert r.status_code == 400 and "not a known instrument" in r.text
        assert sorted(p.name for p in tmp_path.iterdir()) == outside
        assert not (tmp_path / "recordings").exists() or not any(
            (tmp_path / "recordings").iterdir()
        )
        assert open_fds(s.proc.pid) <= fds + 2  # keep-alive sockets at most
        for ok in ("ES 03-24", "MES 12-24", "ES ##-##"):
            r = post(s, {"instrument": ok})
            assert r.status_code == 200 or r.json()["error"]["details"]["field"] == "instrument"
        assert post(s, {"instrument": "MES 12-24"}).status_code == 200
    finally:
        s.stop()


def test_two_thousand_instruments_under_a_low_fd_limit_leave_the_server_answering(tmp_path):
    """2,000 distinct valid-looking names (1,640 unknown, 360 real ES contracts, each a file
    of its own) with the process's descriptor limit at 256: unknown names open nothing, real
    ones stay within ``record_max_open_files`` open at once, and the server still answers
    (REST, WebSocket, ``/health``)."""
    write_config(tmp_path, {"server": {"record_dir": str(tmp_path / "recordings"),
                                       "record_max_open_files": 64}})  # fmt: skip
    s = serve(tmp_path)
    try:
        resource.prlimit(s.proc.pid, resource.RLIMIT_NOFILE, (256, 256))
        names = [f"ES {m:02d}-{y:02d}" for y in range(30, 60) for m in range(1, 13)]
        names += [f"Z{i} 03-24" for i in range(2000 - len(names))]
        assert len(set(names)) == 2000
        with connect(s.ws, max_size=None) as ws:
            hello(ws, "many")
            for seq, name in enumerate(names, 1):
                ticks = [{"t": T0, "price": 4810.25, "size": 1}]
                ws.send(
                    json.dumps({"type": "batch", "instrument": name, "seq": seq, "ticks": ticks})
                )
            answers = [json.loads(ws.recv(timeout=60)) for _ in names]
        acks = [a for a in answers if a["type"] == "ack"]
        errors = [a for a in answers if a["type"] == "error"]
        assert len(acks) == 360 and len(errors) == 1640
        assert {e["field"] for e in errors} == {"instrument"}
        health = http().get(f"{s.http}/health", timeout=10).json()
        assert health["recording"]["open_files"] <= 64
        assert health["recording"]["frames"] == 360 and health["status"] == "ok"
        assert open_fds(s.proc.pid) < 120
        assert len(recording_files(tmp_path / "recordings")) == 360
        assert post(s, snapshot()).status_code == 200
        assert book(s)["ask"][0] == {"price": 4810.25, "size": 7}
    finally:
        s.stop()


def test_a_setting_beyond_the_descriptor_limit_stops_start_with_one_line(tmp_path):
    """``record_max_open_files`` more than half the process's descriptor limit cannot work:
    start stops with one line naming the key (no traceback)."""
    write_config(tmp_path, {"server": {"record_dir": str(tmp_path / "recordings"),
                                       "record_max_open_files": 4096}})  # fmt: skip
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))  # the child inherits it
    try:
        s = serve(tmp_path, expect_exit=True)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    out = s.log_path.read_text()
    assert s.returncode != 0
    assert "server.record_max_open_files: 4096" in out and "Traceback" not in out
