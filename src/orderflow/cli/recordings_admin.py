"""``orderflow recordings check|repair``: what an operator runs when ``orderflow serve`` stops at
start on a corrupt recording (the server itself cuts torn tails off; it never guesses around a
corrupt frame inside a file)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from orderflow.cli.output import console, print_json

recordings_app = typer.Typer(
    help="The server's recordings (server.record_dir): check them, repair them.",
    no_args_is_help=True,
)

PathArg = Annotated[
    Path | None,
    typer.Argument(help="A recording folder or one *.ofrec file (default: server.record_dir)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _files(ctx: typer.Context, path: Path | None) -> tuple[Path, list[Path]]:
    from orderflow.core.errors import RequestError
    from orderflow.server.recording import recording_files

    if path is None:  # the root command's --config (also when run as python -m ...main)
        from orderflow.settings import load_settings

        config = ctx.find_root().params.get("config")
        path = load_settings(config).server.record_dir
        if path is None:
            raise RequestError("server.record_dir is off: name a folder or file", field="path")
    if not path.exists():
        raise RequestError(f"{path}: no such file or folder", field="path")
    return path, recording_files(path)


@recordings_app.command()
def check(ctx: typer.Context, path: PathArg = None, json: JsonOpt = False) -> None:
    """Check every frame of every recording file: whole frames, a torn tail (a crash
    mid-write; the server cuts it off itself), corrupt frames inside a file (the server will
    not start on today's: run ``repair``). Exits 1 when any file is not clean."""
    from orderflow.server.recording import check_recording

    root, files = _files(ctx, path)
    checks = [check_recording(f).to_dict() for f in files]
    bad = [c for c in checks if not c["ok"]]
    if json:
        print_json({"path": str(root), "files": checks, "ok": not bad})
    else:
        for c in checks:
            state = "ok"
            if c["corrupt_frames"]:
                state = (
                    f"CORRUPT: {c['corrupt_frames']} corrupt frame(s), the first at byte "
                    f"{c['corrupt_at']} ({c['reason']}); run `orderflow recordings repair "
                    f"{c['file']}`"
                )
            elif c["torn_tail_bytes"]:
                state = f"torn tail of {c['torn_tail_bytes']} bytes (cut off when next opened)"
            console.print(f"{c['file']}: {c['frames']:,} frames, {c['bytes']:,} bytes: {state}",
                          highlight=False, soft_wrap=True)  # fmt: skip
        console.print(f"{len(files)} file(s), {len(bad)} not clean", highlight=False)
    if bad:
        sys.exit(1)


@recordings_app.command()
def repair(ctx: typer.Context, path: PathArg = None, json: JsonOpt = False) -> None:
    """Make recordings appendable again: cut torn tails off; a file with a corrupt frame
    inside is moved aside (``<file>.corrupt-<ns>``, nothing is deleted) and replaced by its
    whole frames before the corruption. Says what was dropped."""
    from orderflow.server.recording import repair_recording

    root, files = _files(ctx, path)
    done = [repair_recording(f) for f in files]
    if json:
        print_json({"path": str(root), "files": done})
        return
    for r in done:
        if r["action"] == "moved_aside":
            console.print(
                f"{r['file']}: frame at byte {r['corrupt_at']} is corrupt; kept the "
                f"{r['kept_frames']:,} frames before it, dropped {r['dropped_frames']:,} "
                f"frame(s) ({r['dropped_bytes']:,} bytes) from there on; the original is "
                f"{r['moved_to']}",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        elif r["action"] == "torn_tail_cut":
            console.print(
                f"{r['file']}: cut a torn tail of {r['dropped_bytes']:,} bytes off; "
                f"{r['kept_frames']:,} frames kept",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
    changed = sum(r["action"] != "none" for r in done)
    console.print(f"{len(done)} file(s), {changed} repaired", highlight=False)
