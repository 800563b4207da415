"""Long jobs with their progress on stderr: a bar on a terminal, plain lines otherwise, nothing
with ``--json``; each inside its logged stage."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from orderflow.cli.context import instrument_of, settings
from orderflow.cli.logs import stage
from orderflow.cli.output import err_console, rich_console

__all__ = [
    "PLAIN_EVERY_S",
    "replay_with_progress",
    "run_pipeline",
    "run_with_progress",
    "summary_with_progress",
]

PLAIN_EVERY_S = 5.0  # seconds between two progress lines when stderr is not a terminal


def run_with_progress(
    stage_name: str, label: str, work: Any, quiet: bool, unit: str = "events"
) -> Any:
    """Run ``work(progress)`` inside the logged stage ``stage_name`` with its progress on
    stderr: a bar on a terminal, a plain line every few seconds otherwise (CI, a pipe, a log
    file), nothing with --json (``work(None)``)."""
    if quiet:
        with stage(stage_name):
            return work(None)
    if not err_console.is_terminal:
        t0 = time.perf_counter()
        nxt = [t0 + PLAIN_EVERY_S]

        def plain(done: int, total: int) -> None:
            now = time.perf_counter()
            if now >= nxt[0]:
                err_console.print(f"{stage_name} {label}: {done:,} of about {total:,} {unit}, "
                                  f"{now - t0:.0f} s", highlight=False, soft_wrap=True)  # fmt: skip
                nxt[0] = now + PLAIN_EVERY_S

        with stage(stage_name):
            return work(plain)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{stage_name}[/] {{task.description}}"),
        BarColumn(),
        TextColumn(f"{{task.completed:,}}/{{task.total:,}} {unit}"),
        TimeElapsedColumn(),
        console=rich_console(err_console),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with stage(stage_name):
            return work(progress)


def summary_with_progress(label: str, work: Any, quiet: bool) -> dict[str, Any]:
    """A book replay with progress; its summary as a plain dict."""
    return run_with_progress("replay", label, work, quiet).to_dict()  # type: ignore[no-any-return]


def replay_with_progress(
    path: Path, depth: int, at_ns: int | None, quiet: bool, instrument: str | None = None
) -> dict[str, Any]:
    """Replay PATH into the right book with progress; the book's summary at ``at_ns`` (else
    at the end), ``depth`` levels a side."""
    from orderflow.io.replay import replay_file

    inst = instrument_of(instrument)
    return summary_with_progress(
        path.name,
        lambda progress: replay_file(
            path, depth=depth, at_ns=at_ns, instrument=inst, progress=progress
        ),
        quiet,
    )


def run_pipeline(
    file: Path,
    instrument: str | None,
    quiet: bool,
    keep_mid_path: bool,
    tz: str | None = None,
    measure: bool = False,
    keep_signals: bool = False,
) -> Any:
    """Replay FILE through the whole pipeline (book, analytics, signals) with a progress bar;
    ``keep_signals``: keep every signal (a table of them), not only the latest."""
    from orderflow.engine.runner import run_file
    from orderflow.settings import pipeline_params

    params = pipeline_params(settings(), keep_mid_path=keep_mid_path, measure=measure)
    if keep_signals:
        params = dataclasses.replace(params, signals_kept=None)
    inst = instrument_of(instrument)
    rule = settings().analytics.aggressor
    return run_with_progress(
        "analyze",
        file.name,
        lambda progress: run_file(file, params, inst, progress=progress, aggressor=rule, tz=tz),
        quiet,
    )
