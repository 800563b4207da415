"""The sessions file (``trading.session_file``): what it gives back is exactly what
exchange-calendars builds, a process that reads it imports neither the library nor pandas, and a
torn, corrupt, stale or foreign file is never believed: the library builds the table again and
the file is written over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import orjson
import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading import session_file, sessions
from orderflow.trading.sessions import (
    TradingSessions,
    _build_library_sessions,
    _library_sessions,
)

#: decades of CME history and years ahead: every holiday rule, early close and time change the
#: library knows in that span goes through the file
SPAN = ("CMES", "1995-01-01", "2035-12-31")


@pytest.fixture(scope="module")
def library() -> tuple[session_file.Row, ...]:
    return _build_library_sessions(*SPAN)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own (``NUMBA_CACHE_DIR``), the in-process memo emptied."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    _library_sessions.cache_clear()
    yield tmp_path
    _library_sessions.cache_clear()


def test_the_file_gives_back_the_library_sessions_exactly(library, folder, builds):
    assert len(library) > 10_000  # 41 years of Globex sessions
    path = session_file.write(*SPAN, library)
    assert path == folder / "sessions-CMES-1995-01-01-2035-12-31.json"
    assert session_file.read(*SPAN) == library
    assert _library_sessions(*SPAN) == library
    assert builds == []  # read from the file, not built
    by_day = {day: (o, c, early) for day, o, c, early in session_file.read(*SPAN) or ()}
    # Black Friday 2023: 17:00 CT open the evening before, the library's 12:00 CT early close
    assert by_day[date(2023, 11, 24)] == (1_700_780_400 * 10**9, 1_700_848_800 * 10**9, True)
    assert date(2023, 12, 25) not in by_day  # Christmas: no session
    assert by_day[date(2024, 3, 11)][0] == 1_710_108_000 * 10**9  # 17:00 CDT: daylight time
    assert sum(early for *_, early in library) == sum(v[2] for v in by_day.values())


def test_a_process_reading_the_file_imports_neither_the_library_nor_pandas(library, folder):
    """The point of the file: the sessions of a backtest or the server without pandas. The
    child's sessions equal the ones built here from the library."""
    es = get_instrument("ES")
    here = TradingSessions(es)  # builds with the library and stores the default span's file
    assert list(folder.glob("sessions-CMES-*.json"))
    code = (
        "import json, sys\n"
        "from orderflow.model.instruments import get_instrument\n"
        "from orderflow.trading.sessions import TradingSessions\n"
        "s = TradingSessions(get_instrument('ES')).sessions\n"
        "print(json.dumps({'heavy': sorted(m for m in ('exchange_calendars', 'pandas')"
        " if m in sys.modules), 'sessions': [[x.day.isoformat(), x.open_ns, x.close_ns,"
        " x.rth_open_ns, x.rth_close_ns, x.early_close] for x in s]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(folder)}, timeout=120,
                          check=True)  # fmt: skip
    out = json.loads(proc.stdout)
    assert out["heavy"] == []
    assert out["sessions"] == [
        [x.day.isoformat(), x.open_ns, x.close_ns, x.rth_open_ns, x.rth_close_ns, x.early_close]
        for x in here.sessions
    ]


@pytest.fixture
def builds(library, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """The library's builds from here on (each answered with the table built once above: the
    fault tests are about the file, not about pandas' second of CPU per build)."""
    calls: list[tuple[str, str, str]] = []

    def build(name: str, start: str, end: str) -> tuple[session_file.Row, ...]:
        calls.append((name, start, end))
        assert (name, start, end) == SPAN
        return library

    monkeypatch.setattr(sessions, "_build_library_sessions", build)
    return calls


def _rebuilt(library: tuple[session_file.Row, ...], path: Path, builds: list[object]) -> None:
    """The file is refused, the library builds the table again and a good file replaces it."""
    assert session_file.read(*SPAN) is None
    assert _library_sessions(*SPAN) == library
    assert builds == [SPAN]
    assert session_file.read(*SPAN) == library
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize("cut", [0, 10, "header", "half", -1])
def test_a_torn_file_is_built_again(library, folder, builds, cut):
    path = session_file.write(*SPAN, library)
    assert path is not None
    data = path.read_bytes()
    head = data.index(b"\n")
    n = {"header": head, "half": head + (len(data) - head) // 2}.get(cut, cut)
    assert isinstance(n, int)
    path.write_bytes(data[:n])
    _rebuilt(library, path, builds)


def test_a_corrupt_row_is_never_believed(library, folder, builds):
    """A digit changed in the rows (valid JSON, a plausible instant) fails the digest."""
    path = session_file.write(*SPAN, library)
    assert path is not None
    head, body = path.read_bytes().split(b"\n", 1)
    rows = orjson.loads(body)
    rows[5000][2] += 60 * 10**9  # a close a minute later
    path.write_bytes(head + b"\n" + orjson.dumps(rows))
    _rebuilt(library, path, builds)


@pytest.mark.parametrize(
    "field, value",
    [
        ("library", "exchange-calendars 0.0.1, pandas 1.0"),  # stale: another library
        ("format", session_file.FORMAT + 1),  # stale: another layout
        ("end", "2036-12-31"),  # foreign: another span's table
        ("calendar", "XNYS"),  # foreign: another calendar's
    ],
)
def test_a_stale_or_foreign_file_is_built_again(library, folder, builds, field, value):
    path = session_file.write(*SPAN, library)
    assert path is not None
    head, body = path.read_bytes().split(b"\n", 1)
    header = orjson.loads(head)
    header[field] = value
    path.write_bytes(orjson.dumps(header) + b"\n" + body)
    _rebuilt(library, path, builds)


def test_another_span_file_in_its_place_is_foreign(library, folder, builds):
    """A file copied to another span's name names its own span: refused there."""
    path = session_file.write("CMES", "2015-01-01", "2016-12-31", library[-500:])
    assert path is not None
    path.rename(folder / "sessions-CMES-1995-01-01-2035-12-31.json")
    _rebuilt(library, folder / "sessions-CMES-1995-01-01-2035-12-31.json", builds)


def test_an_unwritable_folder_only_costs_the_library_each_time(
    library, builds, tmp_path, monkeypatch
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker))
    _library_sessions.cache_clear()
    try:
        assert session_file.write(*SPAN, library) is None
        assert _library_sessions(*SPAN) == library
        assert builds == [SPAN]
    finally:
        _library_sessions.cache_clear()


def test_a_name_that_is_no_plain_file_name_is_never_stored(folder):
    assert session_file.path_for("../CMES", "2015-01-01", "2016-12-31") is None
    assert session_file.read("../CMES", "2015-01-01", "2016-12-31") is None
    assert session_file.write("../CMES", "2015-01-01", "2016-12-31", ()) is None
    assert not list(folder.iterdir())
