"""How results look: a readable ladder for people, plain JSON for scripts."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def ladder_table(summary: dict[str, Any], title: str | None = None) -> Table:
    """Asks above (highest first), bids below: the DOM a futures trader reads."""
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
