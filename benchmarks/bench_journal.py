"""What the trading journal costs the server, in process (``python benchmarks/bench_journal.py``;
not part of ``make bench``): the Hub applying

- the ESH4 depth batches (100+ NinjaTrader depth events each, no order traffic) with the
  trading engine and no journal, and with a journal: the journal must not be touched, so the
  two should be equal within noise;
- a batch with order traffic (Working and Filled updates and the execution of an order the
  engine submitted) with and without a journal: the difference is the journal's cost per batch
  (one transaction, one sync);
- an order posted through the engine (risk check, desk, the decision and the command
  journalled in one transaction) with and without a journal.

Rounds alternate between the two set-ups (same process, same data) and the medians are
printed with their ratio. The journal is on the working directory's disk (``--dir``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orderflow.protocol import Batch, Execution, OrderUpdate  # noqa: E402
from orderflow.server.hub import Hub  # noqa: E402
from orderflow.server.trading import ServerTradingParams  # noqa: E402
from orderflow.trading.journal import Journal  # noqa: E402
from orderflow.trading.params import TradingParams  # noqa: E402
from orderflow.trading.risk import RiskParams  # noqa: E402

RISK = RiskParams(book_stale_ms=0, kill_on_disconnect=False, max_orders_per_s=1e9,
                  max_trades_per_day=0, max_position=100_000, max_order_size=10,
                  max_consecutive_losses=0, daily_loss_limit=0)  # fmt: skip


def hub(journal: Journal | None, client: str = "nt8") -> Hub:
    h = Hub(trading=TradingParams(risk=RISK), journal=journal,
            trading_server=ServerTradingParams(use_sessions=False))  # fmt: skip
    h.trading.connected(client, report=False)  # type: ignore[union-attr]
    return h


def depth_run(journal: Journal | None, batches: list[Batch]) -> float:
    """Seconds per depth batch over the whole stream, from an empty book."""
    h = hub(journal)
    before = journal.count() if journal is not None else 0
    t0 = time.perf_counter()
    for b in batches:
        h.apply(b, "nt8")
    dt = (time.perf_counter() - t0) / len(batches)
    assert journal is None or journal.count() == before, "a depth batch touched the journal"
    return dt


def order_run(journal: Journal | None, n: int, tag: str) -> tuple[float, float]:
    """(seconds per posted order, seconds per batch of its reports): n round trips."""
    client = f"nt8-{tag}"  # one desk per run: the restore below replays each
    h = hub(journal, client)
    tr = h.trading
    assert tr is not None
    book = Batch(instrument="ES 03-24", seq=1, depth=[])
    h.apply(book, client)
    h.state("ES 03-24")
    inst = h.instruments["ESH4"].instrument
    post = apply = 0.0
    seq = 1
    for i in range(n):
        action = "Buy" if i % 2 == 0 else "Sell"
        cid = f"{tag}-{i}"
        body = {"op": "submit", "cid": cid, "action": action, "order_type": "Market",
                "quantity": 1}  # fmt: skip
        t0 = time.perf_counter()
        tr.command(client, inst, "ES 03-24", body)
        post += time.perf_counter() - t0
        tr.outbox.clear()
        tr.clients[client].risk._times.clear()  # the broker's 5 orders/s would refuse the rest
        seq += 1
        t = 1_703_545_200_000_000_000 + i * 1000
        batch = Batch(
            instrument="ES 03-24", seq=seq,
            orders=[OrderUpdate(t, cid, "Working", 1),
                    OrderUpdate(t + 1, cid, "Filled", 1, 1, 4810.0)],
            executions=[Execution(t + 1, cid, f"x-{cid}", 4810.0, 1,
                                  "Long" if action == "Buy" else "Short")],
        )  # fmt: skip
        t0 = time.perf_counter()
        h.apply(batch, client)
        apply += time.perf_counter() - t0
    return post / n, apply / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=ROOT)
    args = parser.parse_args()
    from tests.integration.test_server import esh4_batches

    batches = [b for b in esh4_batches()[0] if len(b.depth) >= 100]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix=".bench-journal-") as folder:
        journal = Journal(Path(folder) / "orderflow.sqlite")
        # the depth runs' own journal: a Hub restores every client of its journal, and the
        # engine visits each client on every book update, so the order runs' many desks
        # would be measured, not the journal
        quiet = Journal(Path(folder) / "depth.sqlite")
        depth: dict[str, list[float]] = {"off": [], "on": []}
        post: dict[str, list[float]] = {"off": [], "on": []}
        reports: dict[str, list[float]] = {"off": [], "on": []}
        depth_run(None, batches)  # warm the kernels
        for r in range(args.rounds):
            for key, j in (
                (("off", None), ("on", journal)) if r % 2 else (("on", journal), ("off", None))
            ):
                gc.collect()  # the previous run's garbage is not this run's cost
                depth[key].append(depth_run(quiet if j is not None else None, batches))
                gc.collect()
                p, a = order_run(j, args.orders, f"{key}{r}")
                post[key].append(p)
                reports[key].append(a)
        records = journal.count()
        journal.close()
        quiet.close()
        journal = Journal(Path(folder) / "orderflow.sqlite")
        t0 = time.perf_counter()
        restored = Hub(trading=TradingParams(risk=RISK), journal=journal,
                       trading_server=ServerTradingParams(use_sessions=False))  # fmt: skip
        restore_s = time.perf_counter() - t0
        assert restored.trading is not None
        bad = [ct.restored for ct in restored.trading.clients.values()
               if ct.restored and ct.restored["mismatches"]]  # fmt: skip
        assert not bad, bad
        journal.close()

    def show(label: str, got: dict[str, list[float]]) -> None:
        off, on = statistics.median(got["off"]), statistics.median(got["on"])
        print(f"{label:<44} {off * 1e6:9.1f} us  {on * 1e6:9.1f} us  x{on / off:5.2f}  "
              f"(+{(on - off) * 1e6:.1f} us)")  # fmt: skip

    print(f"{len(batches)} depth batches, {args.orders} orders x {args.rounds} rounds "
          f"(medians), {records:,} records journalled; columns: no journal, journal")  # fmt: skip
    show("depth batch (no order traffic)", depth)
    show("order posted (risk, desk, journal, ledger)", post)
    show("batch of reports (2 updates + 1 execution)", reports)
    print(
        f"restore at start: {records:,} records replayed in {restore_s:.3f} s "
        f"({restore_s / records * 1e6:.1f} us a record)"
    )


if __name__ == "__main__":
    main()
