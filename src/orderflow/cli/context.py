"""What every command shares: the settings of this invocation (``--config``, ``--set``) and
the option types the commands have in common.

The state lives here, not in ``cli.main``: under ``python -m orderflow.cli.main`` that module
runs as ``__main__``, and a command importing it by name would get a second, unset copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow.settings import Settings, load_settings

__all__ = ["STATE", "InstrumentOpt", "JsonOpt", "State", "TzOpt", "instrument_of", "settings"]


class State:
    """The global options of this invocation (set by the app's callback)."""

    debug = False
    settings: Settings | None = None
    config_path: Path | None = None


STATE = State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="Zone of a NinjaTrader file's local clock (default: America/New_York for its "
        "database files .ncd/.ntd, UTC for exports and dumps).",
    ),
]

InstrumentOpt = Annotated[
    str | None,
    typer.Option(
        "--instrument", "-i", help="Instrument when the file does not name it (ESH4, ES)."
    ),
]


def settings() -> Settings:
    """The settings of this invocation (loaded from the environment when no callback ran)."""
    if STATE.settings is None:
        STATE.settings = load_settings()
    return STATE.settings


def instrument_of(symbol: str | None) -> Any:
    """The registry's instrument for ``symbol`` (a contract or a root), or None."""
    from orderflow.model.instruments import get_instrument

    return get_instrument(symbol) if symbol else None
