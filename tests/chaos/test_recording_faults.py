"""Faults of the recording volume against the real server (``orderflow serve`` in a subprocess
on a tmp folder) and the real CLI: a torn tail is cut off and appended after (two restarts
later every batch is there), a corrupt frame inside a file stops start with one line and
``orderflow recordings check|repair`` mend it, and a full disk refuses batches retryably
without leaving a partial frame, then recovers when space is freed."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orderflow.protocol import decode_batch
from orderflow.server.recording import MAGIC, Recorder, check_recording, read_recording
from tests.chaos.test_ingest_faults import (
    ENV,
    INSTRUMENT,
    T0,
    book,
    depth,
    post,
    serve,
    snapshot,
    update,
)
from tests.conftest import PROJECT_ROOT
from tests.serving import http, write_config

pytestmark = pytest.mark.slow

DAY = time.strftime("%Y-%m-%d", time.gmtime())


def today_file(folder: Path) -> Path:
    return folder / "recordings" / "ES_03-24" / f"{DAY}.ofrec"


def sizes(path: Path) -> list[int]:
    """The bid row 0 size each recorded update set (``update(.., k)`` sets ``10 + k``)."""
    out = []
    for r in read_recording(path).records:
        if not r.batch.snapshot:
            out += [e.size for e in r.batch.depth]
    return out


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderflow.cli.main", *args],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}, **ENV},
    )  # fmt: skip


def half_a_frame(tmp: Path) -> bytes:
    """The first half of a real frame (what a crash in the middle of a write leaves)."""
    rec = Recorder(tmp)
    rec.append(decode_batch(json.dumps(update(0, 99)).encode()), None, time.time_ns())
    rec.close()
    (path,) = tmp.rglob("*.ofrec")
    frame = path.read_bytes()[len(MAGIC) :]
    return frame[: len(frame) // 2]


@pytest.fixture(scope="module")
def fed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A folder whose server took a snapshot and updates 1-3 and was then SIGKILLed, and the
    book it showed after the snapshot: fed once for the module, each test given a copy."""
    folder = tmp_path_factory.mktemp("fed")
    write_config(folder)
    s = serve(folder)
    try:
        assert post(s, snapshot()).status_code == 200
        snap_book = book(s)
        for k in range(1, 4):
            assert post(s, update(0, k)).status_code == 200
    finally:
        s.kill()
    return folder, snap_book


@pytest.fixture
def fed(fed_once: tuple[Path, dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    """``tmp_path`` holding a copy of that folder (its config naming ``tmp_path``): the state a
    server of its own fed the same batches and killed would have left, without its start."""
    folder, snap_book = fed_once
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("serve-*.log"))  # fmt: skip
    write_config(tmp_path)
    return snap_book


def test_a_torn_tail_is_cut_off_and_two_restarts_later_every_batch_is_there(tmp_path, fed):
    path = today_file(tmp_path)
    torn = half_a_frame(tmp_path / "scratch")
    with open(path, "ab") as fh:  # the process died in the middle of its next write
        fh.write(torn)
    assert check_recording(path).torn_bytes == len(torn)
    first = serve(tmp_path)
    try:
        assert book(first)["bid"][0] == {"price": 4810.0, "size": 13}
        health = http().get(f"{first.http}/health", timeout=10).json()
        assert [a["kind"] for a in health["alerts"]].count("recording_torn_tail") == 1
        assert health["recording"]["torn_tails"] == 1
        assert health["recording"]["torn_bytes"] == len(torn)
        metrics = http().get(f"{first.http}/metrics", timeout=10).text
        assert "orderflow_recording_torn_tails_total 1.0" in metrics
        for k in range(4, 7):
            assert post(first, update(0, k)).status_code == 200
    finally:
        first.kill()
    second = serve(tmp_path)  # the restart that failed with "frame ... is corrupt (CRC)"
    try:
        assert book(second)["bid"][0] == {"price": 4810.0, "size": 16}
        assert post(second, update(0, 7)).status_code == 200
        health = http().get(f"{second.http}/health", timeout=10).json()
        assert health["recording"]["torn_tails"] == 0
    finally:
        second.stop()
    third = serve(tmp_path)
    try:
        assert book(third)["bid"][0] == {"price": 4810.0, "size": 17}
    finally:
        third.stop()
    check = check_recording(path)
    assert check.to_dict()["ok"] and check.frames == 8
    assert sizes(path) == [11, 12, 13, 14, 15, 16, 17]


def test_a_corrupt_frame_inside_stops_start_with_one_line_and_check_repair_mend_it(tmp_path, fed):
    snap_book = fed
    path = today_file(tmp_path)
    data = bytearray(path.read_bytes())
    (first_len,) = struct.unpack_from("<I", data, len(MAGIC))
    second = len(MAGIC) + 8 + first_len  # the frame of update 1
    data[second + 8 + 5] ^= 0xFF  # one flipped bit pattern inside its payload
    path.write_bytes(bytes(data))
    failed = serve(tmp_path, expect_exit=True)
    out = failed.log_path.read_text()  # (output() flushes a log that expect_exit closed)
    assert failed.returncode == 2
    assert "Traceback" not in out
    line = next(ln for ln in out.splitlines() if ln.startswith("error:"))
    assert str(path) in line and f"frame at byte {second} is corrupt (CRC)" in line
    assert "orderflow recordings repair" in line

    config = str(tmp_path / "config.yaml")
    checked = cli("--config", config, "recordings", "check", "--json")  # server.record_dir
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    (f,) = report["files"]
    assert (f["file"], f["frames"], f["corrupt_frames"], f["corrupt_at"]) == (
        str(path), 1, 1, second)  # fmt: skip
    assert f["frames_after_corruption"] == 2 and not report["ok"]
    repaired = cli("--config", config, "recordings", "repair", str(path))
    assert repaired.returncode == 0, repaired.stderr
    said = " ".join(repaired.stdout.split())
    assert "kept the 1 frames before it, dropped 3 frame(s)" in said
    (aside,) = path.parent.glob(f"{path.name}.corrupt-*")
    assert aside.read_bytes() == bytes(data)  # nothing deleted
    assert cli("--config", config, "recordings", "check").returncode == 0

    again = serve(tmp_path)
    try:
        assert book(again) == snap_book
        assert post(again, update(0, 5)).status_code == 200
    finally:
        again.stop()
    assert sizes(path) == [15]


def test_check_and_repair_report_and_cut_a_torn_tail(tmp_path):
    rec_dir = tmp_path / "recordings"
    rec = Recorder(rec_dir)
    for k in range(3):
        rec.append(decode_batch(json.dumps(update(0, k)).encode()), "nt", time.time_ns())
    rec.close()
    (path,) = rec_dir.rglob("*.ofrec")
    whole = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(half_a_frame(tmp_path / "scratch"))
    checked = cli("recordings", "check", str(rec_dir))
    assert checked.returncode == 1
    assert "3 frames" in checked.stdout and "torn tail" in checked.stdout
    repaired = cli("recordings", "repair", str(rec_dir), "--json")
    assert repaired.returncode == 0, repaired.stderr
    (done,) = json.loads(repaired.stdout)["files"]
    assert done["action"] == "torn_tail_cut" and done["kept_frames"] == 3
    assert path.stat().st_size == whole
    assert cli("recordings", "check", str(rec_dir), "--json").returncode == 0


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs, and mounting one needs root")
    where.mkdir(parents=True)
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                         capture_output=True, text=True)  # fmt: skip
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {got.stderr.strip()}")


def big_update(k: int) -> dict[str, Any]:
    """About 9 KB recorded: 150 updates of bid row 0, the last one to size ``10 + k``."""
    rows = [depth(T0 + 200 + i, "bid", 0, 4810.0, 10 + k, "update") for i in range(150)]
    return {"instrument": INSTRUMENT, "depth": rows}


def test_a_full_disk_refuses_batches_retryably_and_keeps_the_recording_whole(tmp_path):
    rec_dir = tmp_path / "recordings"
    _mount_tmpfs(rec_dir, "256k")
    try:
        write_config(tmp_path)
        s = serve(tmp_path)
        try:
            assert post(s, snapshot()).status_code == 200
            filler = rec_dir / "filler"
            free = shutil.disk_usage(rec_dir).free
            filler.write_bytes(b"\0" * (free - 40 * 1024))  # about 40 KB left
            k, refused = 0, None
            while refused is None and k < 100:
                k += 1
                before = book(s)
                r = post(s, big_update(k))
                if r.status_code != 200:
                    refused = r
            assert refused is not None, "the disk never filled"
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            err = refused.json()["error"]
            assert err["code"] == "recording_unavailable" and err["details"]["field"] == "recording"
            assert book(s) == before  # not recorded: not applied
            again = post(s, big_update(k))
            assert again.status_code == 503  # still full: still refused, still retryable
            health = http().get(f"{s.http}/health", timeout=10).json()
            assert health["status"] == "degraded" and not health["recording"]["ok"]
            assert str(rec_dir) in health["recording"]["unavailable"]
            alerts = [a for a in health["alerts"] if a["kind"] == "recording_unavailable"]
            assert len(alerts) == 1 and "No space left on device" in alerts[0]["detail"]
            metrics = http().get(f"{s.http}/metrics", timeout=10).text
            assert "orderflow_recording_unavailable 1.0" in metrics
            path = today_file(tmp_path)
            check = check_recording(path)  # no partial frame stayed behind
            assert check.to_dict()["ok"] and check.frames == k  # the snapshot and k - 1 updates
        finally:
            s.kill()
        full = serve(tmp_path)  # restarts cleanly on the full disk
        try:
            assert book(full) == before
            filler.unlink()  # the operator frees space
            assert post(full, big_update(k)).status_code == 200
            health = http().get(f"{full.http}/health", timeout=10).json()
            assert health["status"] == "ok" and health["recording"]["ok"]
            assert book(full)["bid"][0] == {"price": 4810.0, "size": 10 + k}
        finally:
            full.stop()
        assert check_recording(path).frames == k + 1
    finally:
        subprocess.run(["umount", "-l", str(rec_dir)], check=False)
