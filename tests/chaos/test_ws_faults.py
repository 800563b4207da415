"""Faults on the WebSocket's paths, real uvicorn on 127.0.0.1 and real clients, ESH4 as the
bridge sends it: a batch refused inside a pipelined run costs that batch alone (every other
one is answered, in order, and the ladder ends as an in-process hub's does), and a batch
that cannot be recorded (a full disk), sent one at a time (applied by the session's reader),
is refused retryably, applies nothing, and goes through once space is freed, after which
the rest go on to the same book as a hub that never failed; with the view and the alert
checks before the ack or after it (``server.work_after_ack``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.protocol import Batch
from orderflow.server.hub import Hub
from tests.chaos.test_recording_faults import _mount_tmpfs
from tests.integration.test_server import Server, esh4_batches

pytestmark = pytest.mark.slow


def hello(ws: Any, client: str) -> None:
    ws.send(json.dumps({"type": "hello", "protocol": 2, "client": client,
                        "encoding": "msgpack"}))  # fmt: skip
    assert msgspec.msgpack.decode(ws.recv(timeout=30))["type"] == "welcome"


def answer(ws: Any) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while (msg := msgspec.msgpack.decode(ws.recv(timeout=30)))["type"] == "heartbeat":
        pass
    return msg  # type: ignore[no-any-return]


def off_grid(b: Batch) -> Batch:
    d = b.depth[0]
    return msgspec.structs.replace(
        b, depth=[msgspec.structs.replace(d, price=d.price + 0.1), *b.depth[1:]])  # fmt: skip


def _reference(batches: list[Batch]) -> dict[str, Any]:
    """The last ack an in-process hub gives for ``batches`` one at a time (refusals skipped)."""
    hub, last = Hub(), None
    for b in batches:
        try:
            last = hub.apply(b, "nt8")[0]
        except Exception:  # the refused batch
            continue
    assert last is not None
    return msgspec.to_builtins(last)  # type: ignore[no-any-return]


@pytest.mark.parametrize("work_after_ack", [False, True])
def test_a_batch_refused_inside_a_pipelined_run_costs_that_batch_alone(work_after_ack):
    batches = list(esh4_batches()[0][:80])
    batches[50] = off_grid(batches[50])
    want = _reference(batches)
    s = Server(work_after_ack=work_after_ack)
    try:
        with connect(s.ws, compression=None, max_size=None) as ws:
            hello(ws, "nt8")
            for b in batches:  # every batch before any answer is read
                ws.send(msgspec.msgpack.encode(b))
            covered: list[int] = []
            errors: list[dict[str, Any]] = []
            while not covered or covered[-1] != batches[-1].seq:
                msg = answer(ws)
                if msg["type"] == "error":
                    errors.append(msg)
                elif msg["type"] == "ack":
                    covered += range(msg["first_seq"], msg["seq"] + 1)
                    last = msg
            assert [e["seq"] for e in errors] == [batches[50].seq]
            assert covered == [b.seq for b in batches if b.seq != batches[50].seq]
            assert last["stale"] is True  # its depth is lost: the ladder waits for a snapshot
            assert (last["book"], last["metrics"]) == (want["book"], want["metrics"])
    finally:
        s.stop()


@pytest.mark.parametrize("work_after_ack", [False, True])
def test_a_batch_that_cannot_be_recorded_applies_nothing_and_goes_through_once_space_is_freed(
    tmp_path: Path, work_after_ack: bool
):
    batches = list(esh4_batches()[0][:120])
    want = _reference(batches)
    rec_dir = tmp_path / "recordings"
    _mount_tmpfs(rec_dir, "4m")  # room for every batch once the filler is gone
    try:
        s = Server(record_dir=rec_dir, work_after_ack=work_after_ack)
        try:
            with connect(s.ws, compression=None, max_size=None) as ws:
                hello(ws, "nt8")
                last: dict[str, Any] | None = None
                for b in batches[:5]:
                    ws.send(msgspec.msgpack.encode(b))
                    last = answer(ws)
                    assert last["type"] == "ack" and last["seq"] == b.seq
                filler = rec_dir / "filler"
                filler.write_bytes(b"\0" * (shutil.disk_usage(rec_dir).free - 40 * 1024))
                i, refused = 5, None
                while refused is None and i < len(batches):
                    ws.send(msgspec.msgpack.encode(batches[i]))
                    msg = answer(ws)
                    if msg["type"] == "error":
                        refused = msg
                        break
                    assert msg["type"] == "ack" and msg["seq"] == batches[i].seq
                    last, i = msg, i + 1
                assert refused is not None, "the disk never filled"
                assert (refused["code"], refused["seq"]) == ("recording_unavailable",
                                                             batches[i].seq)  # fmt: skip
                hub = s.app.state.server.hub
                assert hub.last_seq["nt8"] == batches[i - 1].seq  # not recorded: not taken
                assert hub.counters["batches"] == i  # nor applied
                conn = s.app.state.server.conns["nt8"]
                assert conn.lone >= i  # one at a time: the reader applied them
                filler.unlink()  # the operator frees space; the bridge sends it again
                for b in batches[i:]:
                    ws.send(msgspec.msgpack.encode(b))
                    last = answer(ws)
                    assert last["type"] == "ack" and last["seq"] == b.seq, (last, i, b.seq)
                assert last is not None
                assert (last["book"], last["metrics"]) == (want["book"], want["metrics"])
                assert hub.counters["batches"] == len(batches)
        finally:
            s.stop()
    finally:
        subprocess.run(["umount", "-l", str(rec_dir)], check=False)
