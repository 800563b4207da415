"""``orderflow config show``: the effective settings and where each value came from.

A trader runs it before trading to see what is on: every setting (dotted key), its value and
its source (``default``, ``file``, ``env`` or ``cli``, the highest that sets it). Secrets (any
key naming a token, secret or password) are masked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow.cli.output import console, print_json
from orderflow.settings import Settings, settings_sources
from orderflow.settings_rules import is_secret, parse_overrides, settings_leaves

__all__ = ["config_app", "effective_settings"]

MASK = "********"

config_app = typer.Typer(
    help="The settings: what is on, and where each value came from.", no_args_is_help=True
)


def effective_settings(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{"file": ..., "settings": {key: {"value", "source"}}}`` with secrets masked."""
    settings, fp, sources = settings_sources(path, overrides)
    dumped = settings.model_dump(mode="json")
    out: dict[str, dict[str, Any]] = {}
    for leaf in settings_leaves(Settings):
        value = _at(dumped, leaf.key)
        if is_secret(leaf.key) and value is not None:
            value = MASK
        out[leaf.key] = {"value": value, "source": sources[leaf.key]}
    return {"file": str(fp) if fp is not None else None, "settings": out}


def _at(data: Any, key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value).decode()


@config_app.command("show")
def show(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed", help="Only the settings the file, the environment or --set gives."
        ),
    ] = False,
) -> None:
    """Print every setting's effective value and its source (default, file, env, cli)."""
    root = ctx.find_root().params  # orderflow --config F --set K=V ...
    shown = effective_settings(root.get("config"), parse_overrides(root.get("set_") or []))
    if changed:
        shown["settings"] = {k: v for k, v in shown["settings"].items() if v["source"] != "default"}
    if json:
        print_json(shown)
        return
    rows = shown["settings"]
    width = max((len(k) for k in rows), default=0)
    console.print(f"# settings file: {shown['file'] or '(none)'}", highlight=False)
    for key, row in rows.items():
        line = f"{key:<{width}}  {_text(row['value'])}  [{row['source']}]"
        console.print(line, highlight=False, markup=False, soft_wrap=True)
