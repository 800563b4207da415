"""The bracket manager's index of live brackets (``BracketManager.live``, what a decision and
the backtest's idle check walk instead of every bracket) and its ``net`` (read at every
decision), checked against working them out from every bracket after each of its operations
in the desk's and the strategy's bracket scenarios (a partial fill, legs resized, a target
hit, a reconnect that flattens, scale-out targets filled one by one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orderflow.trading.brackets import Bracket, BracketManager
from tests.unit.trading import test_desk, test_strategy

CHECKED = ("submit", "cancel", "close", "amend", "apply_update", "apply_fill", "sync")


def _agrees(bm: BracketManager) -> None:
    assert list(bm.live.values()) == [b for b in bm.brackets.values() if b.status != "done"]
    om = bm.orders.orders
    for b in bm.brackets.values():
        want = sum(f.side.sign * f.quantity for c in b.cids() for f in om[c].fills)
        assert bm.net(b) == want


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every call of the manager's operations followed by the check; the calls counted."""
    calls = [0]

    def wrap(name: str) -> Callable[..., Any]:
        real = getattr(BracketManager, name)

        def op(self: BracketManager, *a: Any, **k: Any) -> Any:
            out = real(self, *a, **k)
            _agrees(self)
            calls[0] += 1
            return out

        return op

    for name in CHECKED:
        monkeypatch.setattr(BracketManager, name, wrap(name))
    yield calls


@pytest.mark.parametrize(
    "scenario",
    [
        test_desk.test_a_bracketed_es_trade_end_to_end,
        test_desk.test_a_reconnect_that_flattens_before_anything_new,
        test_strategy.test_scale_out_targets_fill_one_by_one_and_the_stop_follows,
        test_strategy.test_one_target_is_a_plain_oco_bracket,
    ],
)
def test_the_live_index_and_net_follow_every_bracket_operation(
    checked: list[int], scenario: Callable[[], None]
) -> None:
    scenario()
    assert checked[0] > 0


def test_the_check_fails_when_a_bracket_ends_behind_the_index(
    checked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself: a bracket ended without leaving the index (an ``_end`` that only
    sets the status, as before the index) is caught at the operation that ended it."""

    def end(self: BracketManager, b: Bracket, reason: str) -> None:
        b.status, b.reason = "done", reason

    monkeypatch.setattr(BracketManager, "_end", end)
    with pytest.raises(AssertionError):
        test_desk.test_a_bracketed_es_trade_end_to_end()
