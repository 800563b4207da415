"""Settings an attacker or a careless operator gives, through the real command line: a bad one
stops ``orderflow serve`` before it binds, with one line naming the key, the value and the
reason; a good one is obeyed as written (``false`` is false) and ``config show`` says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.serving import Serve, http, write_config

#: the worktree's own code first, whatever is installed in the environment
PYTHONPATH = os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)])


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    return {**base, "PYTHONPATH": PYTHONPATH, **(extra or {})}


def _orderflow(folder: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "orderflow.cli.main", *args], cwd=folder, env=_env(env),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _nested(key: str, value: Any) -> dict[str, Any]:
    tree: Any = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    return tree  # type: ignore[no-any-return]


def _config(folder: Path, key: str | None = None, value: Any = None) -> Path:
    """``folder/config.yaml`` (tests.serving's, as block YAML) with ``key`` set to ``value``:
    a float NaN is written ``.nan``, as an operator would."""
    cfg = write_config(folder)
    data = yaml.safe_load(cfg.read_text())
    if key is not None:
        node = data
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[key.split(".")[-1]] = value
    cfg.write_text(yaml.safe_dump(data))
    return cfg


BAD = [
    # key, YAML value, environment text, what the one line says of it
    ("trading.risk.daily_loss_limit", float("nan"), "nan", "is not a finite number"),
    ("trading.risk.daily_loss_limit", float("-inf"), "-inf", "is not a finite number"),
    (
        "trading.risk.daily_loss_limit",
        -300.0,
        "-300",
        "is refused: daily_loss_limit: -300.0 must be",
    ),
    ("trading.risk.max_position", 2.5, "2.5", "is not"),
    ("trading.server.strategy", "maybe", "maybe", "is not a boolean (true/false/1/0/yes/no)"),
    ("trading.server.enabled", "off", "off", "is not a boolean (true/false/1/0/yes/no)"),
]


@pytest.mark.parametrize("how", ["yaml", "env"])
@pytest.mark.parametrize(("key", "value", "text", "says"), BAD)
def test_serve_refuses_a_bad_setting_before_it_binds(tmp_path, how, key, value, text, says):
    env = {"PYTHONPATH": PYTHONPATH}
    if how == "yaml":
        cfg = _config(tmp_path, key, value)
        assert key.rsplit(".", 1)[-1] in cfg.read_text()
    else:
        _config(tmp_path)
        env["ORDERFLOW_" + key.replace(".", "__").upper()] = text
    serve = Serve(tmp_path, env=env, expect_exit=True, timeout_s=60)
    out = serve.log_path.read_text()  # (output() flushes the log expect_exit has closed)
    lines = out.strip().splitlines()
    assert serve.returncode == 2, out
    assert len(lines) == 1 and lines[0].startswith(f"error: setting {key}: "), out
    assert says in lines[0] and "Traceback" not in out
    assert "serving on" not in out  # it never got as far as binding
    assert not (tmp_path / "recordings").exists() and not (tmp_path / "journal").exists()
    with pytest.raises(httpx.TransportError):
        http().get(f"{serve.http}/health", timeout=1)


def test_config_show_says_what_is_on_and_where_it_came_from(tmp_path):
    """The three values the environment used to get wrong, a quoted "false" in the file, a
    --set on the command line and a secret, through the real command line."""
    _config(tmp_path, "trading.server.require_report", "false")
    env = {"ORDERFLOW_TRADING__SERVER__STRATEGY": "false",
           "ORDERFLOW_TRADING__SERVER__ENABLED": "FALSE",
           "ORDERFLOW_TRADING__RISK__DAILY_LOSS_LIMIT": "300",
           "ORDERFLOW_SERVER__TOKEN": "s3cret-token"}  # fmt: skip
    done = _orderflow(tmp_path, "--config", "config.yaml", "--set", "trading.risk.max_position=1",
                      "config", "show", "--json", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    rows = shown["settings"]
    assert shown["file"] == "config.yaml"
    assert rows["trading.server.strategy"] == {"value": False, "source": "env"}
    assert rows["trading.server.enabled"] == {"value": False, "source": "env"}
    assert rows["trading.risk.daily_loss_limit"] == {"value": 300.0, "source": "env"}
    assert rows["trading.server.require_report"] == {"value": False, "source": "file"}
    assert rows["trading.risk.max_position"] == {"value": 1, "source": "cli"}
    assert rows["trading.risk.max_order_size"] == {"value": 2, "source": "default"}
    assert rows["server.token"] == {"value": "********", "source": "env"}
    assert "s3cret" not in done.stdout + done.stderr
    text = _orderflow(tmp_path, "--config", "config.yaml", "config", "show", env=env)
    assert text.returncode == 0, text.stderr
    line = next(x for x in text.stdout.splitlines() if x.startswith("trading.server.strategy "))
    assert line.split() == ["trading.server.strategy", "false", "[env]"]
    assert "s3cret" not in text.stdout


def test_config_show_stops_on_a_bad_setting_with_the_one_line(tmp_path):
    _config(tmp_path, "trading.risk.daily_loss_limit", float("nan"))
    done = _orderflow(tmp_path, "--config", "config.yaml", "config", "show")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "error: setting trading.risk.daily_loss_limit: nan is not a finite number\n"
    )


def test_the_engine_switch_off_from_the_environment_serves_switched_off(tmp_path):
    """``ORDERFLOW_TRADING__SERVER__ENABLED=false`` used to be the truthy string 'false': the
    engine stayed on. The server now starts switched off: no strategy and no journal (the
    engine itself runs: API orders go through its desk and risk checks, so /health has its
    trading section, empty until a client trades)."""
    _config(tmp_path)
    serve = Serve(tmp_path, env={"PYTHONPATH": PYTHONPATH,
                                 "ORDERFLOW_TRADING__SERVER__ENABLED": "false"})  # fmt: skip
    try:
        health = http().get(f"{serve.http}/health", timeout=10).json()
        assert health["status"] == "ok" and health["trading"] == {}
        assert "journal" not in health
        assert not (tmp_path / "journal").exists()  # switched off: no journal opened
    finally:
        serve.stop()
