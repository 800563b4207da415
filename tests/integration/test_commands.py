"""tests/commands.py, which the CLI tests share runs through: several commands in one process
answer exactly as a process each (the same exit status, stdout and stderr: a result as JSON,
a missing file, a bad option; the working folder given applied), one command's environment
not reaching the next; and a shared result is computed once however many processes ask for it
at the same time."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.commands import Command, Shared, in_one_process, run_cli


def test_one_process_answers_as_a_process_each(tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    (here / "s.yaml").write_text("book:\n  depth_levels: 20\n")
    show = ("config", "show", "--changed", "--json")
    cases = [
        # a setting from the environment, and one from a file named relative to the folder
        Command(("--config", "s.yaml", *show), env={"ORDERFLOW_INSTRUMENT": "NQ"}, cwd=str(here)),
        Command(("book", "replay", "nope.dbn")),
        Command(("backtest", "--out", str(tmp_path / "x"), "--bar-period", "x")),
        Command(show),
    ]
    ran = in_one_process(cases)
    for cmd, got in zip(cases[:3], ran, strict=False):  # each against a process of its own
        env = {k: v for k, v in os.environ.items() if k not in cmd.env}
        env |= {k: v for k, v in cmd.env.items() if v is not None}
        want = run_cli(*cmd.args, check=False, env=env, cwd=Path(cmd.cwd or tmp_path), timeout=120)
        assert (got.returncode, got.stdout, got.stderr) == (
            want.returncode, want.stdout, want.stderr), cmd  # fmt: skip
    # what the cases are: the environment's setting shown (JSON), a missing file named as given
    # (the entry point's one line, exit 2), a bad option (click's usage error, exit 2), and the
    # setting and the folder no longer there for the next command
    assert ran[0].returncode == 0 and '"instrument"' in ran[0].stdout
    assert '"book.depth_levels"' in ran[0].stdout
    assert ran[1].returncode == 2 and ran[1].stderr.strip().endswith(" nope.dbn")
    assert ran[2].returncode == 2 and "--bar-period" in ran[2].stderr
    assert ran[3].returncode == 0 and ran[3].stdout.startswith("{")
    assert '"instrument"' not in ran[3].stdout and '"book.depth_levels"' not in ran[3].stdout


def test_a_shared_result_is_computed_once_for_processes_asking_together(tmp_path: Path) -> None:
    shared = Shared(tmp_path / "shared")
    log = tmp_path / "computed"

    def compute(folder: Path) -> dict[str, str]:
        with log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(0.3)  # the other processes ask meanwhile
        (folder / "out.txt").write_text("written")
        return {"pid": str(os.getpid()), "folder": str(folder)}

    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                got = shared.get("key", compute)
                ok = Path(got["folder"], "out.txt").read_text() == "written"
                os._exit(0 if ok else 1)
            finally:
                os._exit(2)
        children.append(pid)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    assert statuses == [0, 0, 0]
    (computer,) = log.read_text().split()  # one process computed it
    again = shared.get("key", compute)
    assert again["pid"] == computer and Path(again["folder"]).parent == tmp_path / "shared"
    assert log.read_text().split() == [computer]  # and this one read it
    assert shared.get("another", compute)["pid"] == str(os.getpid())
