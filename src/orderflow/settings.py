"""One typed settings object, read from a YAML file and ``ORDERFLOW_*`` environment variables.

Precedence (highest first): explicit overrides (CLI flags) > environment > YAML file > defaults.
Nested keys use ``__`` in the environment: ``ORDERFLOW_BOOK__DEPTH_LEVELS=20``. The file is
``--config FILE``, or ``ORDERFLOW_CONFIG``, or ``./orderflow.yaml`` when present. Settings are
built by :func:`load_settings` when a command starts, never at import time.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from orderflow.core.errors import ConfigError
from orderflow.model.instruments import get_instrument

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
_YAML_FILE: ContextVar[Path | None] = ContextVar("orderflow_yaml_file", default=None)


class FeatureFlags(BaseModel):
    """The original design's switches, same meaning as in the NinjaScript strategy."""

    use_python_helper: bool = Field(True, description="usePythonHelper: the bridge talks to us")
    use_l3: bool = Field(True, description="useL3: use order-by-order data when the feed has it")
    historical_only: bool = Field(False, description="HistoricalOnly: never send live orders")
    debug_mode: bool = Field(False, description="DebugMode: detail logs and per-stage timings")


class BookSettings(BaseModel):
    depth_levels: int = Field(10, ge=1, le=500, description="levels shown and converted")
    ladder_rows: int = Field(64, ge=1, le=1000, description="max NinjaTrader rows per side")
    allow_crossed_preopen: bool = Field(
        True, description="a crossed book is an anomaly only outside the pre-open"
    )


class DataSettings(BaseModel):
    dir: Path = Field(DEFAULT_DATA_DIR, description="recorded data folder (shared/data)")
    default_file: str = Field(
        "databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
        description="what `orderflow run` replays when no file is named (relative to dir)",
    )


class LoggingSettings(BaseModel):
    config: Path | None = Field(None, description="logging dictConfig YAML (log_conf.yaml)")
    level: str = Field("INFO", description="root level when no config file is given")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level


class Settings(BaseSettings):
    """Everything configurable. See ``config.example.yaml`` for a documented copy."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERFLOW_", env_nested_delimiter="__", extra="forbid"
    )

    instrument: str = Field("ES", description="default instrument root or contract")
    flags: FeatureFlags = FeatureFlags()
    book: BookSettings = BookSettings()
    data: DataSettings = DataSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("instrument")
    @classmethod
    def _known_instrument(cls, value: str) -> str:
        get_instrument(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _YAML_FILE.get()
        if yaml_file is None:
            return init_settings, env_settings
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: YAML file, then environment, then ``overrides`` (e.g. CLI flags).

    Any problem raises :class:`ConfigError` naming the key and the reason.
    """
    file_path = path or os.environ.get("ORDERFLOW_CONFIG")
    if file_path is None and Path("orderflow.yaml").exists():
        file_path = "orderflow.yaml"
    fp: Path | None = None
    if file_path is not None:
        fp = Path(file_path)
        if not fp.exists():
            raise ConfigError(f"config file {fp} does not exist", field="config")
        try:
            loaded = yaml.safe_load(fp.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {fp} is not valid YAML: {exc}", field="config") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {fp} must hold a mapping", field="config")
    token = _YAML_FILE.set(fp)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']}", field=where) from exc
    finally:
        _YAML_FILE.reset(token)
