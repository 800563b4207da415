"""Recordings: the server appends every inbound batch before applying it; `orderflow replay`
plays a recording back to the same answers; a torn last frame is skipped; a restarted server
recovers its books and sequence numbers from the recording."""

from __future__ import annotations

import json
import subprocess

import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.server.hub import Hub
from orderflow.server.recording import (
    MAGIC,
    Recorder,
    read_recording,
    recording_files,
    replay_records,
)
from tests.commands import ORDERFLOW
from tests.conftest import PROJECT_ROOT
from tests.integration.test_server import Server, comparable, esh4_batches

pytestmark = pytest.mark.slow


def feed(server: Server, batches, client: str = "nt8") -> list[dict]:
    acks = []
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": client}))
        last = json.loads(ws.recv())["last_seq"]
        for b in batches:
            if b.seq <= last:
                continue
            ws.send(msgspec.json.encode(b).decode())
            acks.append(json.loads(ws.recv()))
    return acks


def test_recording_replays_to_the_same_answers(tmp_path):
    batches, _ = esh4_batches()
    server = Server(record_dir=tmp_path)
    try:
        live = feed(server, batches)
    finally:
        server.stop()
    files = recording_files(tmp_path)
    assert [f.parent.name for f in files] == ["ES_03-24"]
    records = read_recording(files[0])
    assert records.torn_bytes == 0
    assert [r.batch for r in records.records] == list(batches)
    hub = Hub()
    again = [comparable(msgspec.to_builtins(hub.apply(r.batch, r.client, r.recv_ns)[0]))
             for r in records.records]  # fmt: skip
    assert again == [comparable(a) for a in live]
    proc = subprocess.run([*ORDERFLOW, "replay", str(tmp_path), "--json"], capture_output=True,
                          text=True, cwd=PROJECT_ROOT, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["batches"] == len(batches) and out["torn_bytes"] == 0
    assert out["instruments"]["ESH4"]["cumulative_delta"]["final"] == 840


def test_a_torn_last_frame_is_skipped_and_a_corrupt_one_refused(tmp_path):
    batches, _ = esh4_batches()
    rec = Recorder(tmp_path)
    for b in batches[:5]:
        rec.append(b, "nt8", 1_700_000_000_000_000_000)
    rec.close()
    (path,) = recording_files(tmp_path)
    whole = path.read_bytes()
    assert whole.startswith(MAGIC)
    path.write_bytes(whole[:-7])  # the process died in the middle of the last write
    got = read_recording(path)
    assert len(got.records) == 4 and got.torn_bytes > 0
    corrupt = bytearray(whole)
    corrupt[len(MAGIC) + 20] ^= 0xFF  # a flipped byte inside the first frame
    path.write_bytes(bytes(corrupt))
    with pytest.raises(Exception, match="corrupt"):
        read_recording(path)


def test_a_restarted_server_recovers_from_its_recording(tmp_path):
    batches, tops = esh4_batches()
    half = len(batches) // 2
    first = Server(record_dir=tmp_path)
    try:
        feed(first, batches[:half])
    finally:
        first.stop()
    second = Server(record_dir=tmp_path)  # the same folder: it recovers today's recording
    try:
        acks = feed(second, batches)  # the client resumes after the server's last_seq
    finally:
        second.stop()
    assert acks[0]["seq"] == half + 1 and not any(a["duplicate"] for a in acks)
    assert (acks[-1]["book"]["bids"], acks[-1]["book"]["asks"]) == tops[-1]
    assert acks[-1]["metrics"]["cumulative_delta"] == 840
    assert len(list(replay_records(recording_files(tmp_path)))) == len(batches)
