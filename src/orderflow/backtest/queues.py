"""Queue position of our resting limit orders: exact with L3 data, a model with L2 data.

**L3 (order ids).** When our order joins a level, the orders resting there are ahead of it,
each with its size (``SimOrder.ahead_ids``); everything that arrives later is behind. An order
ahead that is cancelled (C), or reduced by a modify (M, it keeps its priority), takes its
decrease off ``ahead``; one that a modify moves to another price or grows (it loses its
priority, so it goes behind us) leaves the set with its whole size. Records of orders behind us
change nothing. A trade fills our order by what it leaves after the size ahead of us:
see :func:`l3_trade_fill`.

**L2 (sizes only).** ``ahead`` starts at the level's size when we join. A trade at our price
takes from the front: ``ahead -= trade``, and what the trade had beyond ``ahead`` fills us. A
later size decrease at our level is first explained by the trades seen since (they already
moved us); the rest, ``c``, is cancels, and the part of it that came from ahead of us is
``c * ahead**p / (ahead**p + behind**p)`` with ``behind = level size - unexplained trades -
ahead`` and the exponent ``p`` a parameter (1: proportional to where the size is; larger:
cancels come mostly from the back, so we advance more slowly). A size increase is new orders
behind us. Deterministic: no random draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from orderflow.model.enums import Action

__all__ = [
    "QueueState",
    "ahead_sorted",
    "cancel_share",
    "l2_level_update",
    "l2_trade_fill",
    "l3_order_update",
    "l3_trade_fill",
    "sorted_ahead",
]

_CANCEL, _MODIFY = int(Action.CANCEL), int(Action.MODIFY)


@dataclass(slots=True)
class QueueState:
    """Where one resting order of ours stands in its level's queue."""

    ahead: float = 0.0
    #: L3: the orders ahead of ours, ``{order_id: size}``
    ahead_ids: dict[int, int] = field(default_factory=dict)
    #: L2: the level's size as last seen, and traded size not yet seen leave the level
    level_size: int = 0
    level_traded: int = 0
    #: L3: the exchange event being filled (several T records of one aggressor)
    ev_id: int = -1
    ev_start: float = 0.0
    ev_traded: int = 0
    ev_filled: int = 0
    #: L3: ``ahead_ids``' keys sorted (:func:`sorted_ahead`), and the dict they were taken from
    ids_sorted: np.ndarray | None = None
    ids_of: dict[int, int] | None = None
    #: L3: the sizes of the orders ahead in ``ids_sorted``'s order (:func:`ahead_sorted`);
    #: None once one of them changed
    sizes_sorted: np.ndarray | None = None


def sorted_ahead(q: QueueState) -> np.ndarray:
    """The ids of the orders ahead, sorted (uint64), sorted again only when they changed:
    a dict's ids only ever leave it (a new queue is a new dict), so the same dict with as
    many ids holds the same ones. O(1) then, else O(k log k)."""
    ids = q.ahead_ids
    if q.ids_sorted is None or q.ids_of is not ids or len(q.ids_sorted) != len(ids):
        q.ids_sorted = np.sort(np.fromiter(ids, dtype=np.uint64, count=len(ids)))
        q.ids_of = ids
        q.sizes_sorted = None
    return q.ids_sorted


def ahead_sorted(q: QueueState) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sorted_ahead`'s ids and each one's size now (int64), the sizes read again only
    after one changed (:func:`l3_order_update` forgets them) or the ids did. O(1) then, else
    O(k)."""
    keys = sorted_ahead(q)
    if q.sizes_sorted is None:
        ids = q.ahead_ids
        q.sizes_sorted = np.array([ids[k] for k in keys.tolist()], dtype=np.int64)
    return keys, q.sizes_sorted


def l3_order_update(q: QueueState, price: int, action: int, size: int, order_id: int,
                    our_price: int) -> None:  # fmt: skip
    """A C or M record of an order ahead of ours (``order_id`` in ``q.ahead_ids``)."""
    old = q.ahead_ids.get(order_id)
    if old is None:
        return
    if action == _CANCEL:
        dec = min(size, old)
    elif action == _MODIFY:
        dec = old if price != our_price or size > old else old - size
    else:
        return
    left = old - dec
    q.sizes_sorted = None
    if left > 0:
        q.ahead_ids[order_id] = left
    else:
        del q.ahead_ids[order_id]
    q.ahead = max(0.0, q.ahead - dec)


def l3_trade_fill(q: QueueState, ev_id: int, ev_traded: int, ours_ahead: int,
                  remaining: int) -> int:  # fmt: skip
    """Contracts of ours a trade at our price fills. One exchange event can print several T
    records at a price before its C/M records reduce the orders ahead, so within an event the
    trades count against the queue as it stood at the event's first trade: our order,
    ``start = ahead + our own orders ahead`` deep, has ``clamp(traded - start, 0, quantity)``
    filled by the event, ``ev_traded`` being the event's volume at our price so far (this
    trade included)."""
    if q.ev_id != ev_id:
        q.ev_id, q.ev_start, q.ev_filled = ev_id, q.ahead + ours_ahead, 0
    q.ev_traded = ev_traded
    due = int(ev_traded - q.ev_start) - q.ev_filled if ev_traded > q.ev_start else 0
    fill = max(0, min(remaining, due))
    q.ev_filled += fill
    return fill


def cancel_share(ahead: float, behind: float, power: float) -> float:
    """Share of a non-trade decrease that came from ahead of us (see the module docstring)."""
    if ahead <= 0:
        return 0.0
    if behind <= 0:
        return 1.0
    a, b = math.pow(ahead, power), math.pow(behind, power)
    return a / (a + b)


def l2_trade_fill(q: QueueState, trade_size: int, ours_ahead: float, remaining: int) -> int:
    """Contracts of ours a trade at our price fills (L2 model): trades take from the front,
    so what the trade had beyond ``ahead`` (and our own orders ahead) fills us."""
    start = q.ahead + ours_ahead
    fill = max(0, min(remaining, int(trade_size - start))) if trade_size > start else 0
    q.ahead = max(0.0, q.ahead - trade_size)
    q.level_traded += trade_size
    return fill


def l2_level_update(q: QueueState, new_size: int, power: float) -> None:
    """The level's size became ``new_size`` (L2 model)."""
    old = q.level_size
    dec = old - new_size
    if dec > 0:
        traded = min(dec, q.level_traded)
        behind = max(0.0, old - q.level_traded - q.ahead)
        q.level_traded -= traded
        cancels = dec - traded
        if cancels > 0:
            q.ahead -= cancels * cancel_share(q.ahead, behind, power)
    q.ahead = max(0.0, min(q.ahead, float(new_size)))
    q.level_size = new_size
