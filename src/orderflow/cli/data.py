"""Commands over data files: ``orderflow book replay`` (a file into the right book),
``convert`` (to NinjaTrader depth, or into a Parquet store), ``replay`` (a server recording
through the engine) and ``feed`` (a file into a running server as NinjaTrader would)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow.cli.context import InstrumentOpt, JsonOpt, instrument_of, settings
from orderflow.cli.logs import stage
from orderflow.cli.output import console, print_analysis, print_json, print_summary
from orderflow.cli.progress import replay_with_progress, run_with_progress
from orderflow.core.errors import OrderflowError
from orderflow.core.time import parse_time

__all__ = ["book_app", "convert", "feed", "replay"]

book_app = typer.Typer(
    help="Order books: replay a file and look at the book.", no_args_is_help=True
)


@book_app.command("replay")
def book_replay(
    file: Annotated[Path, typer.Argument(help="DBN, LOBSTER, NinjaTrader dump or recording.")],
    depth: Annotated[int, typer.Option("--depth", "-d", min=1, help="Levels to show.")] = 10,
    at: Annotated[
        str | None, typer.Option("--at", help="Show the book at this time (ISO 8601 UTC or ns).")
    ] = None,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replay FILE into the right book and show it at the end (or at --at)."""
    at_ns = parse_time(at) if at else None
    summary = replay_with_progress(file, depth, at_ns, quiet=json, instrument=instrument)
    if json:
        print_json(summary)
    else:
        print_summary(summary)


def convert(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="FILE OUT (to a NinjaTrader depth dump), or FILE... with --parquet (any data "
            "file, or a folder of server recordings)."
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="Target format: nt8-depth.")] = "nt8-depth",
    levels: Annotated[int, typer.Option("--levels", "-n", min=1, help="Top N levels.")] = 10,
    tz: Annotated[str, typer.Option("--tz", help="Time zone of the dump's timestamps.")] = "UTC",
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet", help="Write FILE... into this Parquet store (by instrument and day)."
        ),
    ] = None,
    chunk_records: Annotated[
        int, typer.Option("--chunk-records", min=1, help="Records per chunk (--parquet).")
    ] = 262_144,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """Convert FILE to the depth events NinjaTrader would send for the top N levels (FILE
    OUT), or store FILE... as Parquet partitioned by instrument and trading day (--parquet)."""
    from orderflow.core.errors import RequestError

    if parquet is not None:
        from orderflow.cli.research import convert_parquet

        with stage("convert"):
            results = convert_parquet(files, parquet, instrument_of(instrument), chunk_records)
        if json:
            print_json(results)
        for r in [] if json else results:
            console.print(
                f"{Path(r['file']).name}: {r['rows']:,} {r['kind']} records"
                + (f" and {r['trades']:,} prints" if r["trades"] else "")
                + f" of {r['instrument']} for {', '.join(r['days'])} in {r['files']} file(s), "
                f"{r['bytes'] / 1e6:.1f} MB under {parquet}"
            )
        return
    from orderflow.io.nt_convert import convert_file

    if len(files) != 2:
        raise RequestError("give FILE OUT (or FILE... --parquet DIR)", field="files")
    file, out = files
    if to != "nt8-depth":
        raise RequestError(f"--to {to!r} is not supported; use nt8-depth", field="to")
    with stage("convert"):
        result = convert_file(file, out, levels=levels, tz=tz)
    if json:
        print_json(result)
    else:
        console.print(
            f"wrote {result['events']:,} NinjaTrader depth events "
            f"({result['boundaries']:,} boundaries, top {levels} levels) to {out}"
        )


def replay(
    path: Annotated[Path, typer.Argument(help="A recording file or a folder of them.")],
    json: JsonOpt = False,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Serve it to the dashboard, paced and controllable."),
    ] = False,
    speed: Annotated[
        float, typer.Option("--speed", min=0.25, max=600, help="With --serve: the speed.")
    ] = 1.0,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="With --serve: the port.")
    ] = None,
    hold: Annotated[
        bool, typer.Option("--hold", help="With --serve: keep serving at the end (Ctrl-C).")
    ] = False,
) -> None:
    """Play a server recording back through the same engine, in the order it was received,
    and print each instrument's session summary and what the batches did. --serve: into a
    server of its own over a WebSocket, paced by its event times, the dashboard's address
    first; its replay bar plays, pauses, changes the speed and seeks."""
    from orderflow.core.errors import RequestError
    from orderflow.engine.runner import summarize
    from orderflow.server.hub import Hub
    from orderflow.server.recording import read_recording, recording_files
    from orderflow.settings import pipeline_params

    files = recording_files(path)
    if not files:
        raise RequestError(f"{path}: no recordings (*.ofrec) there", field="path")
    hub = Hub(pipeline_params(settings()))
    records, torn, refused = [], 0, 0
    for f in files:
        got = read_recording(f)
        records += got.records
        torn += got.torn_bytes
    records.sort(key=lambda r: r.recv_ns)
    if serve:
        from orderflow.cli.replay_served import replay_served

        hub = replay_served(records, path.name, pipeline_params(settings()), speed, port, hold,
                            json)  # fmt: skip
        refused = int(hub.counters.get("refused", 0))
    else:
        with stage("replay"):
            for r in records:
                try:
                    refused += not hub.replay(r)  # refused live too: the same answer again
                except OrderflowError:
                    refused += 1
    out: dict[str, Any] = {
        "files": [str(f) for f in files],
        "batches": len(records),
        "refused": refused,
        "torn_bytes": torn,
        "counters": dict(hub.counters),
        "instruments": {k: summarize(st.pipeline) for k, st in hub.instruments.items()},
    }
    if json:
        print_json(out)
        return
    console.print(
        f"replayed {len(records):,} batches from {len(files)} file(s); {refused} refused, "
        f"{torn} torn bytes at the end skipped; {dict(hub.counters)}"
    )
    for summary in out["instruments"].values():
        console.print()
        print_analysis(summary)


def feed(
    file: Annotated[Path, typer.Argument(help="DBN MBO file or NinjaTrader depth dump.")],
    url: Annotated[str, typer.Option("--url", help="Server WebSocket URL.")] = (
        "ws://127.0.0.1:8765/ws"
    ),
    speed: Annotated[
        float, typer.Option("--speed", help="Event time per real time (1 = as recorded).")
    ] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="As fast as possible, no pacing.")] = False,
    transport: Annotated[str, typer.Option("--transport", help="ws or rest.")] = "ws",
    encoding: Annotated[str, typer.Option("--encoding", help="json or msgpack.")] = "msgpack",
    levels: Annotated[int, typer.Option("--levels", min=1, help="Depth levels sent.")] = 10,
    token: Annotated[str | None, typer.Option("--token", help="The server's token.")] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the server's token.")
    ] = None,
    columns: Annotated[
        bool, typer.Option("--columns", help="Send depth as columns of lists (--depth columns).")
    ] = False,
    depth: Annotated[
        str,
        typer.Option(
            "--depth", help="WebSocket depth as packed columns (default), columns or rows."
        ),
    ] = "packed",
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """Play FILE into a running server the way NinjaTrader's market replay would: its book as
    NinjaTrader depth events with the prints, batched at event boundaries, at --speed."""
    from orderflow.client.feed import feed_file
    from orderflow.core.errors import RequestError
    from orderflow.server.auth import resolve_token

    sv = settings().server
    token = resolve_token(token, token_file, sv.token, sv.token_file)

    if transport not in ("ws", "rest") or encoding not in ("json", "msgpack"):
        raise RequestError("--transport is ws or rest, --encoding json or msgpack",
                           field="transport")  # fmt: skip
    if depth not in ("packed", "columns", "rows"):
        raise RequestError("--depth is packed, columns or rows", field="depth")
    result = run_with_progress(
        "feed",
        file.name,
        lambda progress: feed_file(
            file, url, None if fast else speed, levels, transport=transport,  # type: ignore[arg-type]
            encoding=encoding, progress=progress, token=token,  # type: ignore[arg-type]
            instrument=instrument, columns="columns" if columns else depth,  # type: ignore[arg-type]
        ),
        json,
    )  # fmt: skip
    out = {
        "file": str(file), "url": url, "batches": result.batches, "events": result.events,
        "acks": result.acks, "signals": result.signals, "duplicates": result.duplicates,
        "errors": result.errors, "snapshot_requests": result.snapshot_requests,
        "elapsed_s": round(result.elapsed_s, 3), "events_per_s": round(result.events_per_s),
        "book": result.book, "metrics": result.metrics,
    }  # fmt: skip
    if json:
        print_json(out)
        return
    bid, ask = result.top
    console.print(
        f"fed {result.batches:,} batches ({result.events:,} events) in {result.elapsed_s:.2f} s "
        f"({result.events_per_s:,.0f} events/s): {result.acks:,} acks, {result.signals} signals, "
        f"{result.duplicates} duplicates, {result.errors} errors; last book {bid} / {ask}"
    )
