"""The global options reach every command module under ``python -m orderflow.cli.main`` (the
app's module then runs as ``__main__``; the settings live in ``cli.context`` so that commands
in other modules do not read a second, unset copy)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.commands import ORDERFLOW
from tests.conftest import PROJECT_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORDERFLOW, *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120, check=False)  # fmt: skip


def test_set_reaches_a_command_registered_from_another_module(tmp_path):
    journal = tmp_path / "elsewhere.sqlite"
    proc = _run("--set", f"trading.journal={journal}", "journal", "check", "--json")
    assert json.loads(proc.stdout)["path"] == str(journal)


@pytest.mark.parametrize("how", ["--config", "--set"])
def test_config_and_set_reach_the_journal_commands(tmp_path, how):
    journal = tmp_path / "missing.sqlite"
    if how == "--config":
        config = tmp_path / "settings.yaml"
        config.write_text(f"trading:\n  journal: {journal}\n")
        args = ["--config", str(config)]
    else:
        args = ["--set", f"trading.journal={journal}"]
    proc = _run(*args, "journal", "trades")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no journal at {journal}"
