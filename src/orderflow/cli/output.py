"""How results look: a readable ladder for people, plain JSON for scripts.

rich is imported when something is first printed for people, not when a command starts: a
command answering ``--json`` (what scripts and the suite run) never pays for it."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import orjson

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


class _FirstUse:
    """A rich ``Console(**options)``, made at the first use of one of its attributes."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


console = cast("Console", _FirstUse())
err_console = cast("Console", _FirstUse(stderr=True))


def rich_console(which: Console) -> Console:
    """The Console itself behind ``console`` or ``err_console``: what rich's own classes
    (``Progress``, ``Live``) are given."""
    return which.made() if isinstance(which, _FirstUse) else which


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def ladder_table(summary: dict[str, Any], title: str | None = None) -> Table:
    """Asks above (highest first), bids below: the DOM a futures trader reads."""
    from rich.table import Table

    decimals = max(0, len(f"{summary['tick_size']}".rstrip("0").split(".")[-1]))
    if float(summary["tick_size"]).is_integer():
        decimals = 0
    table = Table(title=title, show_lines=False, header_style="bold")
    for col, style in (
        ("bid orders", "green"),
        ("bid size", "bold green"),
        ("price", "bold"),
        ("ask size", "bold red"),
        ("ask orders", "red"),
    ):
        table.add_column(col, justify="right", style=style)
    for lvl in reversed(summary["asks"]):
        table.add_row(
            "", "", f"{lvl['price']:.{decimals}f}", str(lvl["size"]), str(lvl["count"] or "")
        )
    table.add_section()
    for lvl in summary["bids"]:
        table.add_row(
            str(lvl["count"] or ""), str(lvl["size"]), f"{lvl['price']:.{decimals}f}", "", ""
        )
    return table


def print_summary(s: dict[str, Any]) -> None:
    decimals = max(0, -Decimal(str(s["tick_size"])).normalize().as_tuple().exponent)  # type: ignore[operator]

    def px(value: float) -> str:
        return f"{value:.{decimals}f}"

    console.print(ladder_table(s, title=f"{s['instrument']} at {s['ts_event']}"))
    rejected = sum(s["rejected"].values())
    console.print(
        f"[bold]{s['events']:,}[/] events ({s['format']}) from {s['first_ts_event']} to "
        f"{s['ts_event']}: {s['applied']:,} applied, {rejected:,} rejected"
    )
    console.print(
        f"{s['boundaries']:,} event boundaries, {s['crossed_boundaries']:,} crossed, "
        f"{s['locked_boundaries']:,} locked"
        + (f"; {s['orders']:,} resting orders" if s["orders"] is not None else "")
        + (
            f"; {s['trades']:,} trades, {s['traded_volume']:,} contracts"
            if s.get("trades") is not None
            else ""
        )
    )
    if s["best_bid"] is not None and s["best_ask"] is not None:
        console.print(
            f"best bid [bold green]{px(s['best_bid'])} x {s['bids'][0]['size']}[/], "
            f"best ask [bold red]{px(s['best_ask'])} x {s['asks'][0]['size']}[/], "
            f"spread {px(s['spread'])}" + ("  [bold red]CROSSED[/]" if s["crossed"] else "")
        )
    if rejected:
        console.print(f"[yellow]rejected by reason: {s['rejected']}[/]")
    if s["stale"]:
        console.print("[bold yellow]book is stale: it needs a snapshot[/]")


def px(x: float | None) -> str:
    """A price in exchange units as the exchange writes it: no float noise, no lost digits."""
    if x is None:
        return "-"
    return f"{x:.6f}".rstrip("0").rstrip(".")


def print_analysis(s: dict[str, Any]) -> None:
    from rich.table import Table

    def num(x: Any) -> str:
        if x is None:
            return "-"
        if isinstance(x, float):
            return f"{x:,.4f}".rstrip("0").rstrip(".")
        return f"{x:,}"

    console.print(
        f"[bold]{s['instrument']}[/] ({s['kind']}, {s['events']:,} events, "
        f"{s['event_groups']:,} event groups) {s['first_ts_event']} to {s['last_ts_event']}"
    )
    console.print(
        f"{s['trades']:,} trades, [bold]{s['volume']:,}[/] contracts "
        f"(aggressor {s['aggressor']}); session from {s['session']['start']}: "
        f"buy {s['session']['buy_volume']:,} / sell {s['session']['sell_volume']:,}"
    )
    v = s["vwap"]
    if v["price"] is not None:
        bands = ", ".join(f"{b['k']:g}sd {b['lower']:.2f}-{b['upper']:.2f}" for b in v["bands"])
        console.print(f"VWAP [bold]{v['price']:.2f}[/] (sd {v['std']:.2f}; {bands})")
    p = s["profile"]
    if p is not None:
        console.print(
            f"profile POC [bold]{px(p['poc'])}[/], value area {px(p['val'])}-{px(p['vah'])} "
            f"({p['value_area_volume']:,} of {p['total']:,}, {p['value_area_share']:.0%}); "
            f"HVN {p['hvn']}, LVN {p['lvn']}"
        )
    d = s["cumulative_delta"]
    console.print(
        f"cumulative delta [bold]{d['final']:+,}[/] (low {d['low']:+,}, high {d['high']:+,})"
        + (f"; momentum {s['momentum']:+.3f}" if s["momentum"] is not None else "")
    )
    for b in s["bars"]:
        last = b["last"]
        tail = (
            (
                f", last {last['ts_open']} O {px(last['open'])} H {px(last['high'])} "
                f"L {px(last['low'])} C {px(last['close'])} vol {last['volume']:,} "
                f"delta {last['delta']:+,}"
            )
            if last
            else ""
        )
        console.print(f"bars[{b['series']}] {b['bars']}: {b['closed']:,} closed{tail}")
    if s["book"] is not None:
        bk = s["book"]
        console.print(
            f"book now: spread {num(bk['spread'])}, mid {num(bk['mid'])}, microprice "
            f"{num(bk['microprice'])}, imbalance {bk['imbalance']:+.3f}, OFI(window) "
            f"{bk['ofi_window']:+,}, walls {len(bk['walls'])}"
        )
    for title, rows, cols in (
        ("volume clusters", s["volume_clusters"], ("low", "high", "volume", "aggressor", "strength",
                                                   "age_s")),
        ("liquidity clusters", s["liquidity_clusters"], ("side", "low", "high", "size", "orders",
                                                         "strength", "age_s")),
    ):  # fmt: skip
        if rows:
            t = Table(title=title, header_style="bold")
            for c in cols:
                t.add_column(c, justify="right")
            for r in rows:
                t.add_row(*(num(r[c]) if not isinstance(r[c], str) else r[c] for c in cols))
            console.print(t)
    if s["orders"] is not None:
        ctr = s["orders"]["cancel_to_trade"]
        life = s["orders"]["lifetimes"]
        console.print(
            f"orders: cancel-to-trade bid {num(ctr['bid'])}, ask {num(ctr['ask'])} (last "
            f"window); lifetimes cancelled {life['cancelled']}, filled {life['filled']}"
        )
    sg = s["signals"]
    counts = ", ".join(f"{k} {v}" for k, v in sg["counts"].items()) or "none"
    console.print(
        f"signals: {sg['total']:,} ({counts}); accumulated {sg['accumulated']} "
        f"({sg['accumulated_long']} long, {sg['accumulated_short']} short); filtered "
        f"{sg['filtered']}"
    )
