"""The real ``orderflow`` command for the tests: in a process of its own (:func:`run_cli`), or
several commands in turn in one process (:func:`in_one_process`); and a run shared by the
tests that read the same output (:class:`Shared`).

A process of its own pays the interpreter's start, the imports (typer, pydantic settings,
numpy, numba, pandas for the calendar, matplotlib for the charts) and the kernels' load from
numba's cache: 1-3 s of CPU before the command does anything. A test whose subject is the
process (its exit code, its one line on stderr, its signals, its output without a terminal, a
server) runs its own; the tests that read a command's results share a run, or run their
commands in one process through the console entry point (``orderflow.cli.main.main``, the
function the ``orderflow`` script calls: its exit code, its stdout and its stderr each captured
per command)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import PROJECT_ROOT

__all__ = [
    "ORDERFLOW", "Command", "Ran", "Shared", "in_one_process", "in_one_process_by_name",
    "orderflow_env", "run_cli",
]  # fmt: skip

ORDERFLOW = [sys.executable, "-m", "orderflow.cli.main"]
T = TypeVar("T")


def run_cli(
    *args: str,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path = PROJECT_ROOT,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``orderflow ARGS`` in a process of its own; ``check``: exit status 0 (stderr shown)."""
    proc = subprocess.run(
        [*ORDERFLOW, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@dataclass(frozen=True)
class Command:
    """One ``orderflow`` command line, its environment changes (a value None: unset) and its
    working directory (default: the project's)."""

    args: tuple[str, ...]
    env: dict[str, str | None] = field(default_factory=dict)
    cwd: str | None = None


@dataclass(frozen=True)
class Ran:
    """What one command did: its exit status and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


#: each command through the console entry point in turn: stdin, stdout, stderr and the
#: environment swapped for the command (click's test isolation), the arguments in sys.argv as
#: the ``orderflow`` script has them, the exit status from its SystemExit (an exception that
#: escapes it is printed as the interpreter prints it, status 1), the logging configured
#: afresh (a new process's has no handler yet: the first command's would write to its stream)
PROBE = """
import json, logging, os, sys, traceback
from click.testing import CliRunner
from orderflow.cli.main import main

out = []
for cmd in json.loads(sys.stdin.read()):
    logging.root.handlers.clear()
    logging.getLogger("orderflow").setLevel(logging.NOTSET)
    here, argv = os.getcwd(), sys.argv
    with CliRunner().isolation(env=cmd["env"]) as (stdout, stderr, _):
        sys.argv = ["orderflow", *cmd["args"]]
        os.chdir(cmd["cwd"] or here)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            sys.argv = argv
            os.chdir(here)
        out.append([code, stdout.getvalue().decode(), stderr.getvalue().decode()])
print(json.dumps(out))
"""


def in_one_process(commands: Sequence[Command], timeout: float = 600) -> list[Ran]:
    """``commands`` run in turn in one ``orderflow`` process (:data:`PROBE`); what each did."""
    todo = [{"args": list(c.args), "env": c.env, "cwd": c.cwd} for c in commands]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], input=json.dumps(todo), capture_output=True, text=True,
        cwd=PROJECT_ROOT, timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [Ran(*r) for r in json.loads(proc.stdout)]


def in_one_process_by_name(commands: Mapping[str, Command]) -> dict[str, list[Any]]:
    """:func:`in_one_process` of named commands: each one's exit status, stdout and stderr
    by its name, as JSON values (for :class:`Shared`; ``Ran(*value)`` reads one)."""
    ran = in_one_process(list(commands.values()))
    return {name: [r.returncode, r.stdout, r.stderr] for name, r in zip(commands, ran, strict=True)}


class Shared:
    """Results computed once per test run and shared by every test (and every xdist worker,
    through files in the run's temporary folder) that asks for the same key: a command run
    once whose output several tests read. The first to ask computes it, holding the key's
    lock; the others wait for it and read the stored result (JSON)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str, compute: Callable[[Path], T]) -> T:
        """``compute(folder)``'s result for ``key`` (``folder``: empty, the key's own, for the
        files the computation writes; it stays for the tests to read)."""
        name = hashlib.sha1(key.encode()).hexdigest()[:16]
        folder = self.root / name
        done = self.root / f"{name}.json"
        with (self.root / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if done.exists():
                got: Any = json.loads(done.read_text())
                return got  # type: ignore[no-any-return]
            folder.mkdir(exist_ok=True)
            done.write_text(json.dumps(compute(folder)))
            stored: Any = json.loads(done.read_text())  # the first reader as the others
            return stored  # type: ignore[no-any-return]


def orderflow_env(**changes: str) -> dict[str, str]:
    """This process's environment without any ``ORDERFLOW_`` setting, plus ``changes``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    return {**env, **changes}
