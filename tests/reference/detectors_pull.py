"""A plain-Python reference of the pulling/stacking detector, written from the rule in
``orderflow.signals.detectors_pull`` (dicts and lists, no kernel), to test the kernel against."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow.model.dtypes import NO_PRICE
from orderflow.signals.detectors_pull import PullParams
from orderflow.signals.model import Signal, clip01


def _levels(prices: Sequence[int], sizes: Sequence[int]) -> tuple[dict[int, int], list[int]]:
    shown = {}
    order = []
    for p, q in zip(prices, sizes, strict=True):
        if p == NO_PRICE:
            break
        shown[int(p)] = int(q)
        order.append(int(p))
    return shown, order


def _size(shown: dict[int, int], order: list[int], width: int, bid: bool, p: int) -> int | None:
    if p in shown:
        return shown[p]
    if len(order) < width:
        return 0
    deepest = order[-1]
    return 0 if (p > deepest if bid else p < deepest) else None


class ReferencePull:
    def __init__(self, instrument: str, params: PullParams | None = None) -> None:
        self.instrument = instrument
        self.p = params or PullParams()
        self.prev: tuple[list[int], list[int], list[int], list[int]] | None = None
        self.episodes: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {
            (s, k): [] for s in (0, 1) for k in (0, 1)
        }

    def on_group(self, ts: int, tp: Sequence[int], tz: Sequence[int], td: Sequence[int],
                 bp: Sequence[int], bs: Sequence[int], ap: Sequence[int],
                 as_: Sequence[int]) -> list[Signal]:  # fmt: skip
        out: list[Signal] = []
        now = ([int(x) for x in bp], [int(x) for x in bs], [int(x) for x in ap],
               [int(x) for x in as_])  # fmt: skip
        if self.prev is not None:
            pbp, pbs, pap, pas = self.prev
            best_bid, best_ask = pbp[0], pap[0]
            for sd in (0, 1):
                before_px, before_sz = (pbp, pbs) if sd == 0 else (pap, pas)
                after_px, after_sz = (now[0], now[1]) if sd == 0 else (now[2], now[3])
                touch = before_px[0]
                if touch == NO_PRICE:
                    continue
                b_shown, b_order = _levels(before_px, before_sz)
                a_shown, a_order = _levels(after_px, after_sz)
                step = -1 if sd == 0 else 1
                sums = {0: 0, 1: 0}
                prices: dict[int, list[int]] = {0: [], 1: []}
                for k in range(self.p.near_ticks + 1):
                    price = touch + step * k
                    before = _size(b_shown, b_order, len(before_px), sd == 0, price)
                    after = _size(a_shown, a_order, len(after_px), sd == 0, price)
                    if before is None or after is None:
                        continue
                    traded = 0
                    for x, q, agg in zip(tp, tz, td, strict=True):
                        if x != price:
                            continue
                        if agg == 1:
                            hit = sd == 0
                        elif agg == 0:
                            hit = sd == 1
                        elif sd == 0:
                            hit = best_bid != NO_PRICE and x <= best_bid
                        else:
                            hit = best_ask != NO_PRICE and x >= best_ask
                        if hit:
                            traded += int(q)
                    net = after - before + traded
                    if net:
                        kind = 0 if net < 0 else 1
                        sums[kind] += abs(net)
                        prices[kind].append(price)
                for kind in (0, 1):
                    if sums[kind]:
                        sig = self._add(sd, kind, ts, sums[kind], min(prices[kind]),
                                        max(prices[kind]), touch)  # fmt: skip
                        if sig is not None:
                            out.append(sig)
        self.prev = now
        return out

    def _add(self, sd: int, kind: int, ts: int, size: int, lo: int, hi: int,
             touch: int) -> Signal | None:  # fmt: skip
        ep = self.episodes[(sd, kind)]
        ep[:] = [e for e in ep if e[0] >= ts - self.p.window_ns]
        ep.append((ts, size, lo, hi))
        total = sum(e[1] for e in ep)
        if total < self.p.min_size:
            return None
        first = ep[0][0]
        low, high = min(e[2] for e in ep), max(e[3] for e in ep)
        groups = len(ep)
        ep.clear()
        bid = sd == 0
        pulled = kind == 0
        return Signal(
            instrument=self.instrument, ts_event=ts,
            direction=(-1 if bid else 1) if pulled else (1 if bid else -1),
            score=clip01(total / (2 * self.p.min_size)),
            detector="pulling" if pulled else "stacking", price=touch,
            evidence={"side": "bid" if bid else "ask", "touch": touch, "size": total,
                      "groups": groups, "first_ts": first, "duration_ns": ts - first,
                      "low": low, "high": high, "near_ticks": self.p.near_ticks,
                      "window_ns": self.p.window_ns, "min_size": self.p.min_size},
        )  # fmt: skip
