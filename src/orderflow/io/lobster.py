"""LOBSTER message and orderbook files (lobsterdata.com) into numpy arrays and MBO streams.

Both files are comma separated text without a header (see ``shared/data/lobster/README.md``).
Good files go through ``numpy.loadtxt``'s C parser in one pass; when that fails, a slow csv pass
finds the first bad row and field so the :class:`DecodeError` can name them. Times are kept exact:
the decimal seconds are split as text, never rounded through a float.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from orderflow.core.errors import DecodeError, ParameterError
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE
from orderflow.model.enums import Action, Flags, Side

if TYPE_CHECKING:
    from orderflow.book.levels import LevelBook

__all__ = [
    "ASK_EMPTY",
    "BID_EMPTY",
    "LOBSTER_MESSAGE_DTYPE",
    "read_messages",
    "read_orderbook",
    "to_mbo",
]

#: One LOBSTER message. ``time_ns`` is ns after midnight US/Eastern; ``price`` is dollars x 10000.
LOBSTER_MESSAGE_DTYPE = np.dtype(
    [
        ("time_ns", "i8"),
        ("order_id", "i8"),
        ("size", "i8"),
        ("price", "i8"),
        (
            "type",
            "i1",
        ),  # 1 add, 2 partial cancel, 3 delete, 4 visible exec, 5 hidden, 6 cross, 7 halt
        ("direction", "i1"),  # 1 buy limit order, -1 sell limit order
    ]
)

#: Empty-level sentinels of orderbook files (prices x 10000).
ASK_EMPTY = 9_999_999_999
BID_EMPTY = -9_999_999_999

_MESSAGE_FIELDS = ("time", "type", "order_id", "size", "price", "direction")
_RAW_DTYPE = np.dtype(
    [
        ("time", "U32"),
        ("type", "i8"),
        ("order_id", "i8"),
        ("size", "i8"),
        ("price", "i8"),
        ("direction", "i8"),
    ]
)
_EASTERN = ZoneInfo("America/New_York")


def read_messages(path: str | Path) -> np.ndarray:
    """A message file as a :data:`LOBSTER_MESSAGE_DTYPE` array (one row per line)."""
    path = Path(path)
    try:
        raw = np.loadtxt(path, delimiter=",", dtype=_RAW_DTYPE, ndmin=1)
    except ValueError as exc:
        raise _diagnose(path, _message_row_error) from exc
    out = np.empty(len(raw), dtype=LOBSTER_MESSAGE_DTYPE)
    out["time_ns"] = _seconds_to_ns(raw["time"], path)
    for name in ("type", "order_id", "size", "price", "direction"):
        out[name] = raw[name]
    _validate_messages(raw, path)
    return out


def _seconds_to_ns(text: np.ndarray, path: Path) -> np.ndarray:
    """Decimal seconds text (``34200.015105074``) to exact integer nanoseconds."""
    whole, _, frac = (np.char.partition(text, ".")[:, i] for i in range(3))
    bad_frac = np.char.str_len(frac) > 9
    digits = np.char.isdigit(whole) & (np.char.isdigit(frac) | (np.char.str_len(frac) == 0))
    bad = bad_frac | ~digits
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DecodeError(
            f"{path.name} row {row + 1}: time {text[row]!r} is not decimal seconds with at most "
            "9 decimals",
            field="time",
            row=row + 1,
        )
    frac = np.char.ljust(frac, 9, "0")
    return whole.astype(np.int64) * 1_000_000_000 + frac.astype(np.int64)


def _validate_messages(raw: np.ndarray, path: Path) -> None:
    checks = (
        ("type", (raw["type"] < 1) | (raw["type"] > 7), "is not an event type 1-7"),
        ("direction", (raw["direction"] != 1) & (raw["direction"] != -1), "is not 1 or -1"),
        ("size", raw["size"] < 0, "is negative"),
        ("order_id", raw["order_id"] < 0, "is negative"),
    )
    for field, bad, why in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DecodeError(
                f"{path.name} row {row + 1}: {field} {raw[field][row]} {why}",
                field=field,
                row=row + 1,
            )


def _message_row_error(cells: list[str]) -> tuple[str, str] | None:
    """(field, reason) of the first bad cell of a message row, or None when it parses."""
    if len(cells) != len(_MESSAGE_FIELDS):
        return "row", f"has {len(cells)} fields, expected {len(_MESSAGE_FIELDS)}"
    try:
        float(cells[0])
    except ValueError:
        return "time", f"{cells[0]!r} is not a number"
    for name, cell in zip(_MESSAGE_FIELDS[1:], cells[1:], strict=True):
        try:
            int(cell)
        except ValueError:
            return name, f"{cell!r} is not an integer"
    return None


def _book_row_error(cells: list[str], ncols: int) -> tuple[str, str] | None:
    if len(cells) != ncols:
        return "row", f"has {len(cells)} fields, expected {ncols}"
    for i, cell in enumerate(cells):
        try:
            int(cell)
        except ValueError:
            return _book_column_name(i), f"{cell!r} is not an integer"
    return None


def _book_column_name(col: int) -> str:
    name = ("ask_price", "ask_size", "bid_price", "bid_size")[col % 4]
    return f"{name}_{col // 4 + 1}"


def _diagnose(path: Path, row_error: Callable[[list[str]], tuple[str, str] | None]) -> DecodeError:
    """Find the first bad row with a slow csv pass (only after the fast parser failed)."""
    with path.open(newline="") as fh:
        for lineno, cells in enumerate(csv.reader(fh), start=1):
            problem = row_error(cells)
            if problem is not None:
                field, why = problem
                return DecodeError(
                    f"{path.name} row {lineno}: {field} {why}", field=field, row=lineno
                )
    return DecodeError(f"{path.name}: cannot be parsed", field="file")


def read_orderbook(path: str | Path, levels: int | None = None) -> np.ndarray:
    """An orderbook file as a structured array, one record per row.

    Fields ``ask_price``, ``ask_size``, ``bid_price``, ``bid_size`` each hold ``levels`` values
    (so ``book["bid_price"]`` has shape ``(rows, levels)``). Prices stay dollars x 10000 and the
    empty-level sentinels :data:`ASK_EMPTY` / :data:`BID_EMPTY` (size 0) are kept as written.
    ``levels=None`` reads every level; a smaller number reads only the best ``levels``.
    """
    path = Path(path)
    with path.open() as fh:
        first = fh.readline()
    ncols = first.count(",") + 1 if first.strip() else 0
    if ncols == 0 or ncols % 4:
        raise DecodeError(
            f"{path.name} row 1: has {ncols} fields, expected a multiple of 4", field="row", row=1
        )
    have = ncols // 4
    n = have if levels is None else int(levels)
    if not 1 <= n <= have:
        raise DecodeError(f"{path.name}: asked for {n} levels, the file has {have}", field="levels")
    try:
        raw = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise _diagnose(path, lambda cells: _book_row_error(cells, ncols)) from exc
    dtype = np.dtype(
        [(name, "i8", (n,)) for name in ("ask_price", "ask_size", "bid_price", "bid_size")]
    )
    out = np.empty(len(raw), dtype=dtype)
    for j, name in enumerate(("ask_price", "ask_size", "bid_price", "bid_size")):
        out[name] = raw[:, j : 4 * n : 4]
    return out


def _midnight_utc_ns(date: dt.date | str) -> int:
    """Epoch ns of local midnight on ``date`` in New York, as the trading session's clock.

    LOBSTER times are wall-clock seconds after midnight; the UTC offset is taken at noon so a
    DST switch (2 a.m.) cannot move a trading-hours timestamp.
    """
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=_EASTERN)
    offset = noon.utcoffset()
    assert offset is not None
    naive_midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int((naive_midnight - offset).timestamp()) * 1_000_000_000


def to_mbo(
    messages: np.ndarray, date: dt.date | str, tick: int = 100, trades_off_grid: str = "raise"
) -> np.ndarray:
    """LOBSTER messages as an :data:`MBO_DTYPE` stream, prices in ticks of ``tick`` raw units.

    Mapping (``sequence`` = message row, 1-based; every message's last record flagged LAST):
    1 -> ADD; 2 -> CANCEL of the size removed; 3 -> CANCEL of the size deleted; 4 -> FILL of
    the resting order then CANCEL of the executed size (the book reduction); 5 (hidden) and
    6 (cross) -> TRADE only, side = aggressor (opposite the resting order) for 5, NONE for 6;
    7 (halt) -> one NONE record, price NO_PRICE, size 0 (no book change).

    Book messages (1-4) off the tick grid raise :class:`DecodeError`. Hidden executions can
    print at sub-penny midpoints (GOOG 2012-06-21 has 50 at half cents): by default
    (``"raise"``) they raise, and :func:`exact_tick` picks a grid that holds every price;
    ``trades_off_grid="floor"`` floors them instead (the print's price is then not exact).
    """
    m = messages
    kind = m["type"]
    resting = np.where(m["direction"] == 1, Side.BID, Side.ASK).astype(np.int8)
    halt = kind == 7
    trade_only = (kind == 5) | (kind == 6)
    off = ~halt & (m["price"] % tick != 0)
    if trades_off_grid == "floor":
        off &= ~trade_only
    elif trades_off_grid != "raise":
        raise ParameterError(f"trades_off_grid must be 'floor' or 'raise', not {trades_off_grid!r}")
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise DecodeError(
            f"message row {row + 1}: price {int(m['price'][row])} is off the {tick} tick grid",
            field="price",
            row=row + 1,
        )
    per = np.where(kind == 4, 2, 1)
    ends = np.cumsum(per)
    first = ends - per  # index of each message's first record
    out = np.zeros(int(ends[-1]) if len(m) else 0, dtype=MBO_DTYPE)
    ts = _midnight_utc_ns(date) + m["time_ns"]
    src = np.repeat(np.arange(len(m)), per)
    out["ts_event"] = ts[src]
    out["ts_recv"] = ts[src]
    out["sequence"] = src + 1
    out["order_id"] = m["order_id"][src].astype(np.uint64)
    out["size"] = m["size"][src]
    out["price"] = np.where(halt, NO_PRICE, m["price"] // tick)[src]  # floor division
    out["side"] = resting[src]

    action = np.select(
        [kind == 1, (kind == 2) | (kind == 3), kind == 4, (kind == 5) | (kind == 6)],
        [Action.ADD, Action.CANCEL, Action.FILL, Action.TRADE],
        Action.NONE,
    ).astype(np.int8)
    out["action"] = action[src]
    out["action"][ends[kind == 4] - 1] = Action.CANCEL  # the second record of an execution
    aggressor = np.where(resting == Side.BID, Side.ASK, Side.BID).astype(np.int8)
    out["side"][first[kind == 5]] = aggressor[kind == 5]
    out["side"][first[kind == 6]] = Side.NONE
    out["side"][first[halt]] = Side.NONE
    out["size"][first[halt]] = 0
    out["flags"][ends - 1] = Flags.LAST
    return out


def exact_tick(messages: np.ndarray, tick: int = 100) -> int:
    """The coarsest grid dividing ``tick`` that holds every message price exactly.

    LOBSTER prices are dollars x 10000; stocks quote on $0.01 (100) but hidden executions can
    print at half cents, so GOOG 2012-06-21 needs $0.005 (50) to keep every print exact.
    """
    live = messages["price"][messages["type"] != 7]
    g = int(np.gcd.reduce(np.append(live, tick)))
    return g if g > 0 else tick


def orderbook_path_for(message_path: str | Path) -> Path:
    """The orderbook file that belongs to a message file (same name, ``orderbook``)."""
    p = Path(message_path)
    return p.with_name(p.name.replace("_message_", "_orderbook_"))


@dataclass(slots=True)
class WindowReplay:
    """Result of :func:`replay_window`: the book, level 1..N per row, and top-up count."""

    book: LevelBook
    bids: np.ndarray  # (rows, levels, 2): price ticks, size (0, 0 when empty)
    asks: np.ndarray
    top_ups: int


def replay_window(
    messages: np.ndarray, orderbook: np.ndarray, tick: int = 100, levels: int | None = None
) -> WindowReplay:
    """Rebuild the N-level book from LOBSTER messages, as the data's README prescribes.

    Start from orderbook row 0; apply every message (1 adds size at its price, 2/3/4 remove
    size, 5/6/7 leave the visible book alone); a level pushed out of the N-level window stops
    being reported, so it is dropped; only when a side then holds fewer than N levels are the
    newly visible levels taken from orderbook row k (a "top-up"). A size that would go negative
    raises :class:`InvalidSizeError` from the book: the messages and the window disagree.
    """
    from orderflow.book.levels import LevelBook

    n_levels = levels or int(orderbook["bid_price"].shape[1])
    book = LevelBook()
    n = len(messages)
    row_bp = np.where(orderbook["bid_price"] == BID_EMPTY, 0, orderbook["bid_price"] // tick)
    row_ap = np.where(orderbook["ask_price"] == ASK_EMPTY, 0, orderbook["ask_price"] // tick)
    row_bs, row_as = orderbook["bid_size"], orderbook["ask_size"]
    # keyed by the side as an int: the message loop below reads sides from a plain int list
    window: dict[int, tuple[Any, Any]] = {
        Side.BID: (row_bp[:, :n_levels].tolist(), row_bs[:, :n_levels].tolist()),
        Side.ASK: (row_ap[:, :n_levels].tolist(), row_as[:, :n_levels].tolist()),
    }
    bids = np.zeros((n, n_levels, 2), dtype=np.int64)
    asks = np.zeros((n, n_levels, 2), dtype=np.int64)

    set_, size_at, truncate, count = book.set, book.size_at, book.truncate, book.level_count

    def top_up(side: int, k: int) -> None:
        prices, sizes = window[side]
        for p, s in zip(prices[k], sizes[k], strict=True):
            if s and size_at(side, p) == 0:
                set_(side, p, s, 0, k)

    for side in (Side.BID, Side.ASK):
        top_up(side, 0)
    kinds = messages["type"].tolist()
    prices = (messages["price"] // tick).tolist()
    sizes = messages["size"].tolist()
    sides = np.where(messages["direction"] == 1, Side.BID, Side.ASK).tolist()
    top_ups = 0
    for k in range(n):
        kind = kinds[k]
        if k and kind <= 4:
            side, price = sides[k], prices[k]
            held = size_at(side, price)
            set_(side, price, held + sizes[k] if kind == 1 else held - sizes[k], 0, k)
            truncate(n_levels)
            if count(side) < n_levels:
                top_ups += 1
                top_up(side, k)
        view = book.depth(n_levels)
        bids[k, :, 0] = np.where(view["bid_size"] > 0, view["bid_price"], 0)
        bids[k, :, 1] = view["bid_size"]
        asks[k, :, 0] = np.where(view["ask_size"] > 0, view["ask_price"], 0)
        asks[k, :, 1] = view["ask_size"]
    return WindowReplay(book, bids, asks, top_ups)
