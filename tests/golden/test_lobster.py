"""Golden: rebuild the GOOG 2012-06-21 level-1 book from LOBSTER messages with the LevelBook.

The oracle is the data's own orderbook file (README "Replay"): start from orderbook row 0, apply
every message, and take a level from orderbook row k only when a side runs out of levels inside
the 1-level window (a "top-up"). The book must equal row k at every row.

A 1-level file reports only events that touch the best level, so a level pushed out of the window
(a better price arrived) stops receiving its updates: keeping it would replay stale sizes (this
goes negative on GOOG). The replay therefore drops levels that leave the window
(``truncate(1)``), exactly as a 1-level observer sees the book.
"""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.core.errors import InvalidSizeError
from orderflow.io.lobster import (
    ASK_EMPTY,
    BID_EMPTY,
    exact_tick,
    read_messages,
    read_orderbook,
    replay_window,
    to_mbo,
)
from orderflow.model.enums import Action

pytestmark = pytest.mark.slow

ROWS = 49_482
TOP_UPS = 11_207
TICK = 100  # $0.01 in LOBSTER's price x 10000 units


def _levels_of_row(book_file: np.ndarray) -> np.ndarray:
    """Orderbook level 1 as (bid_price, bid_size, ask_price, ask_size) ticks; empty -> 0, 0."""
    bp, bs = book_file["bid_price"][:, 0], book_file["bid_size"][:, 0]
    ap, as_ = book_file["ask_price"][:, 0], book_file["ask_size"][:, 0]
    return np.stack(
        [
            np.where(bp == BID_EMPTY, 0, bp // TICK),
            np.where(bp == BID_EMPTY, 0, bs),
            np.where(ap == ASK_EMPTY, 0, ap // TICK),
            np.where(ap == ASK_EMPTY, 0, as_),
        ],
        axis=1,
    )


def replay(messages: np.ndarray, book_file: np.ndarray) -> tuple[np.ndarray, int]:
    """The README's replay through the library; level 1 per row as in ``_levels_of_row``."""
    result = replay_window(messages, book_file, tick=TICK, levels=1)
    result.book.check_integrity()
    got = np.concatenate([result.bids[:, 0, :], result.asks[:, 0, :]], axis=1)
    return got, result.top_ups


def test_goog_level1_replay_matches_orderbook_at_every_row(lobster_paths):
    msg_path, book_path = lobster_paths
    messages = read_messages(msg_path)
    book_file = read_orderbook(book_path, levels=1)
    want = _levels_of_row(book_file)
    assert len(messages) == len(want) == ROWS

    got, top_ups = replay(messages, book_file)

    mismatched = np.flatnonzero((got != want).any(axis=1))
    assert len(mismatched) == 0, f"first mismatching rows {mismatched[:5].tolist()}"
    assert top_ups == TOP_UPS
    # level 1 sizes are positive wherever a price is shown: no negative or zero sizes
    assert (got[:, 1][got[:, 0] > 0] > 0).all() and (got[:, 3][got[:, 2] > 0] > 0).all()


def test_goog_replay_without_top_ups_fails(lobster_paths):
    """Sanity of the oracle: the messages alone cannot rebuild the window (README). Without
    top-ups a message soon reduces a level the book never saw, and the book refuses it."""
    msg_path, book_path = lobster_paths
    messages = read_messages(msg_path)
    book_file = read_orderbook(book_path, levels=1).copy()
    for name in ("bid_size", "ask_size"):
        book_file[name][1:] = 0  # nothing to top up from
    with pytest.raises(InvalidSizeError):
        replay(messages, book_file)


def test_goog_messages_match_readme_statistics(lobster_paths):
    messages = read_messages(lobster_paths[0])
    kinds, counts = np.unique(messages["type"], return_counts=True)
    assert dict(zip(kinds.tolist(), counts.tolist(), strict=True)) == {
        1: 24368,
        2: 7,
        3: 13429,
        4: 7765,
        5: 3913,
    }
    assert np.all(np.diff(messages["time_ns"]) >= 0)
    book = read_orderbook(lobster_paths[1])
    asks = book["ask_price"][book["ask_price"] != ASK_EMPTY]
    low = min(messages["price"].min(), book["bid_price"].min())
    assert (low, max(messages["price"].max(), asks.max())) == (5_637_100, 5_802_300)


def test_goog_mbo_conversion(lobster_paths):
    messages = read_messages(lobster_paths[0])
    assert exact_tick(messages) == 50  # 50 hidden prints at half cents need a $0.005 grid
    mbo = to_mbo(messages, "2012-06-21", tick=50)
    assert len(mbo) == ROWS + 7765  # each visible execution is a FILL plus a CANCEL
    assert np.count_nonzero(mbo["action"] == Action.FILL) == 7765
    assert np.count_nonzero(mbo["action"] == Action.TRADE) == 3913
    assert np.all(np.diff(mbo["ts_event"]) >= 0)
