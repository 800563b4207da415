"""What the Hub skips for a client the trading engine has nothing for (no strategy, no desk),
and what it must not: a book update still writes records an earlier commit left behind, and a
client with a desk, or any client under a strategy, still reaches the engine (the closed bars
gathered only when its strategy decides)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from orderflow.analytics.nt_bars import NtBars
from orderflow.protocol import Batch, Depth, Tick
from orderflow.server.hub import Hub
from orderflow.server.trading import ServerTrading
from orderflow.trading.journal import Entry, Journal
from orderflow.trading.params import ServerTradingParams

NOW = time.time_ns()


def _batches() -> list[Batch]:
    quote = [Depth(NOW - 5_000, "bid", "add", 0, 4810.0, 10),
             Depth(NOW - 5_000, "ask", "add", 0, 4810.25, 12)]  # fmt: skip
    move = [Depth(NOW - 4_000, "bid", "update", 0, 4810.0, 9)]
    return [Batch("ES 03-24", 1, depth=quote),
            Batch("ES 03-24", 2, depth=move, ticks=[Tick(NOW - 4_500, 4810.25, 1)])]  # fmt: skip


@pytest.mark.parametrize("how", ["no desk", "desk", "strategy"])
def test_the_engine_is_reached_exactly_when_it_can_act(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(trading_server=ServerTradingParams(strategy=how == "strategy"))
    if how == "desk":
        hub.trading.of("c")
    market: list[Any] = []
    closed: list[int] = []
    real_market, real_closed = ServerTrading.market, NtBars.closed_bars

    def spy_market(self: ServerTrading, *a: Any, **k: Any) -> None:
        market.append(a[0])
        real_market(self, *a, **k)

    def spy_closed(self: NtBars) -> Any:
        closed.append(1)
        return real_closed(self)

    monkeypatch.setattr(ServerTrading, "market", spy_market)
    monkeypatch.setattr(NtBars, "closed_bars", spy_closed)
    for b in _batches():
        hub.apply(b, "c")
    reached = how != "no desk"
    assert hub.trading.moves_for("c") is reached and not hub.trading.moves_for(None)
    assert market == (["c", "c"] if reached else [])
    assert len(closed) == (2 if how == "strategy" else 0)  # the bars: only for a decision
    assert ("c" in hub.trading.clients) is reached  # a strategy makes the desk on first data


def test_a_book_update_without_any_desk_still_writes_what_waits_for_a_commit(
    tmp_path: Path,
) -> None:
    """Records an earlier unit of work left uncommitted (a commit that failed keeps them)
    are written at the next book update even when no client has a desk; with nothing
    waiting, a book update writes nothing."""
    journal = Journal(tmp_path / "j.sqlite")
    hub = Hub(journal=journal)
    writer = hub.trading.writer
    assert writer is not None and not hub.trading.clients
    hub.apply(_batches()[0], "c")
    assert writer.commits == 0
    writer.add(Entry("risk_event", NOW, {"what": "left from before"}))
    # depth only: no print marks positions (which flushes too); the book update alone
    hub.apply(Batch("ES 03-24", 2, depth=[Depth(NOW - 4_000, "bid", "update", 0, 4810.0, 9)]),
              "c")  # fmt: skip
    assert writer.commits == 1 and not writer.pending
    assert [e.payload for e in journal.events()] == [{"what": "left from before"}]
    journal.close()
