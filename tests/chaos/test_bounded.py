"""Bounded and fair, tried as an attacker on 127.0.0.1 would: decompression bombs in every
reader that inflates a file, half-open HTTP connections, and clients that flood the engine
each within its own rate limits while a bridge-like client feeds its batches.

Nothing here asserts a timing: the bombs are judged by their error and the child's peak RSS
(a memory bound), the half-open connections by being closed and the server still answering,
the flood by the bridge's acks arriving in order, with no error, and ``/health`` answering.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from orderflow.core.errors import DecompressionLimitError
from orderflow.io import cme_bars, dbn, formats, stream
from tests.conftest import ESH1_DIR, PROJECT_ROOT, need

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
