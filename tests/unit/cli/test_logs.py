"""``setup_logging``: the settings' logging file applied with ``dictConfig`` (imported only
when there is a file), a missing file refused in one line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.cli.logs import setup_logging
from orderflow.core.errors import ConfigError
from orderflow.settings import load_settings


@pytest.fixture
def kept_logger() -> Iterator[logging.Logger]:
    """The logger the file configures, put back as it was after the test."""
    log = logging.getLogger("orderflow.test_logs")
    before = (log.level, list(log.handlers), log.propagate)
    yield log
    log.setLevel(before[0])
    log.handlers[:] = before[1]
    log.propagate = before[2]


def test_the_settings_logging_file_is_applied(tmp_path: Path, kept_logger: logging.Logger) -> None:
    conf = tmp_path / "log.yaml"
    conf.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "handlers:\n"
        "  mem: {class: logging.NullHandler}\n"
        "loggers:\n"
        "  orderflow.test_logs: {level: ERROR, handlers: [mem], propagate: false}\n"
    )
    setup_logging(load_settings(None, logging={"config": str(conf)}))
    assert kept_logger.level == logging.ERROR and kept_logger.propagate is False
    assert [type(h).__name__ for h in kept_logger.handlers] == ["NullHandler"]


def test_a_missing_logging_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        setup_logging(load_settings(None, logging={"config": str(tmp_path / "none.yaml")}))
