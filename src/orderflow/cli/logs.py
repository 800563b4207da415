"""Logging set-up from ``log_conf.yaml`` (dictConfig) and per-stage timings for ``--debug``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from orderflow.core.errors import ConfigError
from orderflow.settings import Settings

log = logging.getLogger("orderflow")


def setup_logging(settings: Settings, debug: bool = False) -> None:
    """Configure logging once per process from the settings; ``debug`` forces DEBUG level."""
    conf_path = settings.logging.config
    if conf_path is not None:
        path = Path(conf_path)
        if not path.exists():
            raise ConfigError(f"logging config {path} does not exist", field="logging.config")
        from logging.config import dictConfig  # only with a file (it imports socketserver)

        dictConfig(yaml.safe_load(path.read_text()))
    else:
        logging.basicConfig(
            level=settings.logging.level,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        )
    if debug or settings.flags.debug_mode:
        logging.getLogger("orderflow").setLevel(logging.DEBUG)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Log how long a stage took (DEBUG level: shown with ``--debug``)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("stage %s took %.3f ms", name, (time.perf_counter() - start) * 1e3)
