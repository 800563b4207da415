"""A backtest's results: trades, daily P&L, equity and drawdown, statistics, signal use; the
files of a results folder (CSV, JSON, PNG, one self-contained HTML page) and the terminal text.

Formulas (``docs/backtest.md``, "Reports"): trades are the closed round trips of the
positions (FIFO, as NinjaTrader pairs them), net of commission and fees. ``equity`` is the
closed-trade equity: 0 at the data's start, then the cumulative net P&L at each trade's exit.
``max_drawdown``: the largest fall of that curve from its running peak. Daily returns are each
CME trading day's net P&L over ``capital`` (days of the data without a trade count as 0);
``sharpe`` = mean / sample standard deviation x sqrt(252), ``sortino`` = mean / downside
deviation (root mean square of the negative returns over all days) x sqrt(252), risk-free
rate 0, None with fewer than two days (or no dispersion / no losing day). ``exposure``: the
share of the data's time with a position open.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.backtest.options import BacktestOptions, FileRun
from orderflow.core.time import ns_to_iso
from orderflow.trading.exits import exit_code
from orderflow.trading.host import StrategyHost
from orderflow.trading.journal import performance, plain, pnl_by_day, trade_day, trade_rows
from orderflow.trading.orders import Fill, OrderCommand
from orderflow.trading.positions import Trade

__all__ = ["BacktestResult", "build_result", "daily_ratios", "exposure"]

_HOUR = 3_600_000_000_000
_TRADE_COLS = ("number", "day", "instrument", "direction", "max_quantity", "opened", "closed",
               "avg_entry", "avg_exit", "pnl_ticks", "gross", "commission", "fees", "net",
               "equity", "mae", "mfe", "entry_quantity", "exit_quantity", "mae_ticks",
               "mfe_ticks", "opened_t", "closed_t", "reason")  # fmt: skip


@dataclass
class BacktestResult:
    """Plain values (floats, ints, strings, lists, dicts) except ``commands`` and ``fills``,
    which are the trading layer's own structs in the order they were sent and reported."""

    stats: dict[str, Any]
    trades: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    equity: dict[str, list[Any]]  # ts (ns), equity (currency), drawdown (currency, <= 0)
    signals: dict[str, Any]
    files: list[dict[str, Any]]
    commands: list[OrderCommand] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats, "files": self.files, "signals": self.signals,
                "daily": self.daily, "trades": self.trades, "equity": self.equity}  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def summary(self) -> str:
        """The terminal summary (plain text; the CLI adds colour)."""
        s = self.stats
        lines = [
            f"{s['events']:,} market records in {s['elapsed_s']:.2f} s "
            f"({s['events_per_s']:,.0f}/s), {s['decisions']:,} decision points "
            f"({s['strategy_calls']:,} with the strategy asked, the rest idle)",
            f"trades {s['trades']} ({s['wins']} won, {s['losses']} lost), "
            f"net {_money(s['net_pnl'])} = gross {_money(s['gross'])} - commissions "
            f"{_money(s['commissions'])} - fees {_money(s['fees'])}",
            f"win rate {_pct(s['win_rate'])}, avg win {_money(s['avg_win'])}, avg loss "
            f"{_money(s['avg_loss'])}, expectancy {_money(s['expectancy'])}, profit factor "
            f"{_num(s['profit_factor'])}",
            f"max drawdown {_money(s['max_drawdown'])}, Sharpe {_num(s['sharpe'])}, Sortino "
            f"{_num(s['sortino'])} ({s['days']} day(s)), exposure {_pct(s['exposure'])}",
            f"signals {self.signals['total']:,} -> accumulated {self.signals['accumulated']:,}"
            f" -> entries sent {self.signals['entries_sent']}, filled "
            f"{self.signals['entries_filled']}",
        ]
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """trades.csv, daily.csv, equity.csv, stats.json (stats, signals, files),
        equity.png, drawdown.png and report.html (everything in one page) under ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "trades": _csv(out / "trades.csv", self.trades, _TRADE_COLS),
            "daily": _csv(
                out / "daily.csv",
                self.daily,
                tuple(self.daily[0]) if self.daily else ("day", "trades", "net", "return"),
            ),
            "equity_csv": _csv(
                out / "equity.csv", _equity_rows(self.equity), ("ts", "ts_ns", "equity", "drawdown")
            ),
        }
        stats = out / "stats.json"
        stats.write_text(json.dumps({"stats": self.stats, "signals": self.signals,
                                     "files": self.files}, indent=2, default=str))  # fmt: skip
        paths["stats"] = stats
        from orderflow.backtest.charts import draw_drawdown, draw_equity

        title = ", ".join(f["instrument"] for f in self.files)
        paths["equity_png"] = draw_equity(out / "equity.png", self.equity, self.trades, title)
        paths["drawdown_png"] = draw_drawdown(out / "drawdown.png", self.equity, title)
        paths["html"] = _html(out / "report.html", self, paths)
        return paths


# ---- building ----------------------------------------------------------------------------------
def build_result(hosts: Sequence[StrategyHost], runs: Sequence[FileRun],
                 commands: list[OrderCommand], fills: list[Fill], opts: BacktestOptions,
                 capital: float, elapsed: float) -> BacktestResult:  # fmt: skip
    trades = sorted((t for h in hosts for t in h.desk.positions.trades if not t.open),
                    key=lambda t: (t.closed_t or 0, t.number))  # fmt: skip
    perf = performance(trades)
    start = min((r.first_ts for r in runs if r.first_ts), default=0)
    rows, ts, eq = [], [start], [0.0]
    cum = Decimal(0)
    why = _exit_reasons(hosts)
    for row, t in zip(trade_rows(trades), trades, strict=True):
        cum += t.net
        ts.append(int(t.closed_t or 0))
        eq.append(float(cum))
        rows.append({**{k: row[k] for k in row if k not in ("executions", "lots", "account")},
                     "opened": ns_to_iso(t.opened_t), "closed": ns_to_iso(t.closed_t or 0),
                     "equity": float(cum),
                     "reason": why.get(t.executions[-1], t.closed_by or "")})  # fmt: skip
    peak = np.maximum.accumulate(np.asarray(eq)) if eq else np.zeros(0)
    dd = (np.asarray(eq) - peak).round(2).tolist()
    days = _data_days(runs, trades)
    by_day = {d["day"]: d for d in plain(pnl_by_day(trades))}
    daily = []
    for day in days:
        d = by_day.get(day, {"day": day, "trades": 0, "wins": 0, "losses": 0, "gross": 0.0,
                              "commission": 0.0, "fees": 0.0, "net": 0.0})  # fmt: skip
        daily.append({**d, "return": d["net"] / capital if capital else 0.0})
    sharpe, sortino = daily_ratios([d["return"] for d in daily])
    events = sum(r.events for r in runs)
    span = sum(max(0, r.last_ts - r.first_ts) for r in runs)
    p = plain(perf)
    stats = {
        "net_pnl": p["net"], "gross": p["gross"], "commissions": p["commission"],
        "fees": p["fees"], "trades": p["trades"], "wins": p["wins"], "losses": p["losses"],
        "scratches": p["scratches"], "win_rate": p["win_rate"], "avg_win": p["avg_win"],
        "avg_loss": p["avg_loss"], "expectancy": p["expectancy"],
        "profit_factor": p["profit_factor"], "largest_win": p["largest_win"],
        "largest_loss": p["largest_loss"], "max_drawdown": p["max_drawdown"],
        "sharpe": sharpe, "sortino": sortino, "days": len(daily), "capital": capital,
        "exposure": exposure(trades, span), "contracts": sum(t.max_quantity for t in trades),
        "events": events, "groups": sum(r.groups for r in runs),
        "decisions": sum(r.decisions for r in runs),
        "strategy_calls": sum(r.asked for r in runs), "commands": len(commands),
        "fills": len(fills), "elapsed_s": round(elapsed, 3),
        "events_per_s": round(events / elapsed) if elapsed > 0 else 0,
        "first_ts": ns_to_iso(start) if start else None,
        "last_ts": ns_to_iso(max((r.last_ts for r in runs), default=0)) or None,
        "decide_every": opts.decide_every, "order_latency_ns": opts.order_latency_ns,
        "md_latency_ns": opts.md_latency_ns, "queue_power": opts.queue_power,
        "seed": opts.seed, "chunk_records": opts.chunk_records,
    }  # fmt: skip
    files = [{"path": r.path, "instrument": r.instrument.contract or r.instrument.symbol,
              "kind": r.kind, "events": r.events, "first_ts": ns_to_iso(r.first_ts)
              if r.first_ts else None, "last_ts": ns_to_iso(r.last_ts) if r.last_ts else None,
              "venue": dict(r.venue_counters)} for r in runs]  # fmt: skip
    return BacktestResult(stats, rows, daily, {"ts": ts, "equity": eq, "drawdown": dd},
                          _signals(hosts, runs), files, commands, fills)  # fmt: skip


def _exit_reasons(hosts: Sequence[StrategyHost]) -> dict[str, str]:
    """Execution id -> the exit code of the bracket its order belongs to (:func:`exit_code`):
    a trade's reason is that of the execution that closed it."""
    out: dict[str, str] = {}
    for h in hosts:
        orders = h.desk.orders.orders
        for b in h.desk.brackets.brackets.values():
            code = exit_code(b.reason)
            for cid in b.cids():
                for f in orders[cid].fills:
                    out[f.execution_id] = code
    return out


def daily_ratios(returns: Sequence[float]) -> tuple[float | None, float | None]:
    """Sharpe and Sortino of daily returns, annualised by sqrt(252), risk-free rate 0."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return None, None
    mean, sd = float(r.mean()), float(r.std(ddof=1))
    down = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    sharpe = mean / sd * math.sqrt(252) if sd > 0 else None
    sortino = mean / down * math.sqrt(252) if down > 0 else None
    return sharpe, sortino


def exposure(trades: Sequence[Trade], span_ns: int) -> float:
    """Share of ``span_ns`` (the data's time) with a position open: the union of the trades'
    open-to-close intervals."""
    if span_ns <= 0:
        return 0.0
    spans = sorted((t.opened_t, t.closed_t or t.opened_t) for t in trades)
    total, cur_a, cur_b = 0, None, None
    for a, b in spans:
        if cur_b is None or a > cur_b:
            if cur_b is not None and cur_a is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_a is not None and cur_b is not None:
        total += cur_b - cur_a
    return min(1.0, total / span_ns)


def _data_days(runs: Sequence[FileRun], trades: Sequence[Trade]) -> list[str]:
    """The CME trading days the data covers (hours with data, or its span) and those with a
    trade closing."""
    days: set[str] = set()
    for r in runs:
        hours = r.hours if r.hours is not None else range(r.first_ts // _HOUR,
                                                          r.last_ts // _HOUR + 1)  # fmt: skip
        if r.first_ts:
            days.update(trade_day(int(h) * _HOUR + _HOUR // 2, r.instrument) for h in hours)
    days.update(trade_day(t.closed_t or 0, t.instrument) for t in trades)
    return sorted(days)


def _signals(hosts: Sequence[StrategyHost], runs: Sequence[FileRun]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for r in runs:
        counts.update(r.signal_counts)
    host_c: Counter[str] = Counter()
    strat_c: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    filled = 0
    for h in hosts:
        host_c.update(h.counters)
        strat_c.update(getattr(h.strategy, "counters", {}))
        for b in h.desk.brackets.brackets.values():
            if h.desk.orders.orders[b.entry].filled:
                filled += 1
                exits[exit_code(b.reason)] += 1
    return {
        "counts": dict(sorted(counts.items())), "total": sum(counts.values()),
        "accumulated": sum(r.accumulated for r in runs),
        "accumulated_long": sum(r.accumulated_long for r in runs),
        "accumulated_short": sum(r.accumulated_short for r in runs),
        "entries_sent": host_c.get("enter_sent", 0),
        "entries_refused": {k: v for k, v in sorted(host_c.items())
                            if k.startswith("enter_") and k != "enter_sent"},
        "entries_filled": filled, "exits": dict(sorted(exits.items())),
        "skipped": dict(sorted(strat_c.items())), "host": dict(sorted(host_c.items())),
    }  # fmt: skip


# ---- files -------------------------------------------------------------------------------------
def _equity_rows(eq: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [{"ts": ns_to_iso(t) if t else "", "ts_ns": t, "equity": e, "drawdown": d}
            for t, e, d in zip(eq["ts"], eq["equity"], eq["drawdown"], strict=True)]  # fmt: skip


def _csv(path: Path, rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cols), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{path.stem}" src="data:image/png;base64,{data}">'


def _table(rows: Sequence[dict[str, Any]], cols: Sequence[str], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:,.2f}"
    return str(v)


_CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}
h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:8px 0}
.scroll{overflow-x:auto}.trades{font-size:12px}"""


def _html(path: Path, res: BacktestResult, pngs: dict[str, Path]) -> Path:
    s = res.stats
    names = ", ".join(f"{html.escape(f['instrument'])} ({html.escape(Path(f['path']).name)})"
                      for f in res.files)  # fmt: skip
    stat_rows = [{"statistic": k.replace("_", " "), "value": v} for k, v in s.items()]
    sig_rows = [{"detector": k, "signals": v} for k, v in res.signals["counts"].items()]
    use = {k: v for k, v in res.signals.items() if k not in ("counts", "host", "skipped")}
    use_rows = [{"what": k.replace("_", " "), "value": json.dumps(v) if isinstance(v, dict)
                 else v} for k, v in use.items()]  # fmt: skip
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>orderflow backtest: {names}</title><style>{_CSS}</style></head><body>",
        f"<h1>Backtest: {names}</h1>",
        f"<p>{html.escape(s['first_ts'] or '-')} to {html.escape(s['last_ts'] or '-')}; "
        f"net P&amp;L <b>{_money(s['net_pnl'])}</b> over {s['trades']} trades.</p>",
        "<h2>Statistics</h2>", _table(stat_rows, ("statistic", "value"), "stats"),
        "<h2>Equity (closed trades, net)</h2>", _img(pngs["equity_png"]),
        "<h2>Drawdown</h2>", _img(pngs["drawdown_png"]),
        "<h2>Daily P&amp;L</h2>", _table(res.daily, tuple(res.daily[0]) if res.daily else ()),
        "<h2>Signals</h2>", _table(sig_rows, ("detector", "signals")),
        _table(use_rows, ("what", "value")),
        f"<h2>Trades ({len(res.trades)})</h2>",
        f'<div class="scroll">{_table(res.trades, (*_TRADE_COLS[:17], "reason"), "trades")}</div>',
        "</body></html>",
    ]  # fmt: skip
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
