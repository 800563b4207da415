"""One typed settings object, read from a YAML file and ``ORDERFLOW_*`` environment variables.

Precedence (highest first): explicit overrides (CLI flags) > environment > YAML file > defaults.
Nested keys use ``__`` in the environment: ``ORDERFLOW_BOOK__DEPTH_LEVELS=20``. The file is
``--config FILE``, or ``ORDERFLOW_CONFIG``, or ``./orderflow.yaml`` when present. Settings are
built by :func:`load_settings` when a command starts, never at import time.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

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


class AnalyticsSettings(BaseModel):
    """Analytics (``orderflow analyze``, the pipeline). Each sub-mapping holds the fields of the
    parameter class it names (see ``config.example.yaml``); unknown keys are refused."""

    model_config = {"extra": "forbid"}

    bars: list[str] = Field(
        ["1m", "5m"],
        description="bar series, index = BarsInProgress: 60s/1m time, 500t tick, 1000v volume, "
        "8r range",
    )
    aggressor: Literal["auto", "bidask", "tick"] = Field(
        "auto",
        description="prints without a recorded aggressor: bid/ask rule with quotes (auto), "
        "or force bidask / tick",
    )
    bar: dict[str, Any] = Field({}, description="BarParams: atr_period")
    footprint: dict[str, Any] = Field(
        {}, description="FootprintParams: imbalance_ratio, min_delta, stacked_count"
    )
    book: dict[str, Any] = Field(
        {}, description="BookMetricsParams: imbalance, ofi, depth, pull_stack, walls"
    )
    momentum: dict[str, Any] = Field({}, description="MomentumParams")
    delta: dict[str, Any] = Field({}, description="DeltaParams: reset_per_session")
    vwap: dict[str, Any] = Field({}, description="VwapParams: reset, multipliers")
    profile: dict[str, Any] = Field({}, description="ProfileParams: value_area, hvn_ratio, ...")
    clusters: dict[str, Any] = Field({}, description="ClusterParams: granularity, thresholds")


class SignalSettings(BaseModel):
    """Detectors, accumulation and filters."""

    model_config = {"extra": "forbid"}

    detectors: list[str] | None = Field(None, description="detectors to run (None: all)")
    l3: dict[str, Any] = Field({}, description="L3Params: iceberg, large lots, spoof pulls")
    l2: dict[str, Any] = Field({}, description="L2Params: absorption, sweep, exhaustion, iceberg")
    accumulator: dict[str, Any] = Field(
        {}, description="AccumulatorParams: half_life_ns, min_score, cooldown_ns, sessions, ..."
    )
    confirm_series: int | None = Field(
        None, description="bar series whose closed bar must agree with a signal (None: off)"
    )
    horizons_s: list[float] = Field([1, 5, 30, 60], description="evaluation horizons, seconds")


class ServerSettings(BaseModel):
    """``orderflow serve``: where it listens and who may talk to it."""

    model_config = {"extra": "forbid"}

    host: str = Field("127.0.0.1", description="bind address; anything but loopback needs a token")
    port: int = Field(8765, ge=1, le=65535, description="TCP port (HTTP and WebSocket)")
    token: str | None = Field(None, description="shared secret clients must present")
    record_dir: Path | None = Field(
        Path("recordings"),
        description="every inbound batch is recorded here (per instrument and day); null: off",
    )
    command_timeout_s: float = Field(
        5.0, gt=0, description="an order command unanswered this long is shown as timed out"
    )
    command_max_age_s: float = Field(
        30.0, gt=0, description="an unanswered command older than this is not sent again"
    )
    rate_messages_per_s: float = Field(
        5000.0, gt=0, description="per connection: messages per second before it is slowed"
    )
    rate_events_per_s: float = Field(
        5_000_000.0, gt=0, description="per connection: depth events and ticks per second"
    )
    rate_burst_s: float = Field(2.0, gt=0, description="seconds of the rate a burst may use")
    rate_max_wait_s: float = Field(
        5.0, gt=0, description="a WebSocket that would wait longer than this is closed"
    )
    send_queue: int = Field(
        4096, ge=16, description="messages queued to one client before it is a slow consumer"
    )
    header_timeout_s: float = Field(
        5.0, gt=0, le=300, description="an HTTP request's headers must be complete within this"
    )
    idle_timeout_s: float = Field(
        15.0, gt=0, le=3600,
        description="an HTTP connection idle (or a request body stalled) this long is closed",
    )  # fmt: skip
    max_connections: int = Field(
        512, ge=1, le=65536, description="open HTTP and WebSocket connections; more are closed"
    )
    engine_slice_ms: float = Field(
        2.0, gt=0, le=1000,
        description="while clients compete, engine time one client's batches get in one go",
    )  # fmt: skip
    engine_queue_events: int = Field(
        1_000_000, ge=1000, le=100_000_000,
        description="decoded events waiting for the engine, all clients; each gets a fair share",
    )  # fmt: skip
    engine_max_wait_s: float = Field(
        10.0, gt=0, le=600,
        description="a client whose work waits longer than this for the engine is closed",
    )  # fmt: skip


class TradingSettings(BaseModel):
    """The trading engine (issue 5). Each mapping holds fields of the parameter class it names
    (see ``config.example.yaml`` and ``docs/trading.md``); unknown keys are refused."""

    model_config = {"extra": "forbid"}

    risk: dict[str, Any] = Field(
        {}, description="RiskParams: daily loss limit, profit goal, trailing drawdown, limits"
    )
    sizing: dict[str, Any] = Field(
        {}, description="SizingParams: method fixed/risk/atr, risk_per_trade, auto_micro"
    )
    sessions: dict[str, Any] = Field(
        {}, description="SessionParams: calendar, rth_only, no-trade windows, flatten time"
    )
    broker: dict[str, Any] = Field(
        {}, description="BrokerParams: profile, per-product overrides of fees and margins"
    )
    server: dict[str, Any] = Field(
        {},
        description="ServerTradingParams: enabled, account, start_behavior, require_report, "
        "use_sessions, strategy, clock",
    )
    strategy: dict[str, Any] = Field(
        {}, description="StrategyParams: the reference strategy's entries, exits and timing"
    )
    journal: Path = Field(
        Path("journal/orderflow.sqlite"),
        description="the trading journal (SQLite): every order, fill and risk decision",
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
    analytics: AnalyticsSettings = AnalyticsSettings()
    signals: SignalSettings = SignalSettings()
    server: ServerSettings = ServerSettings()
    trading: TradingSettings = TradingSettings()
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


# ---- settings -> engine parameters -------------------------------------------------------------
_BAR_UNITS = {"s": (0, 1), "m": (0, 60), "min": (0, 60), "h": (0, 3600), "t": (1, 1),
              "v": (2, 1), "r": (3, 1)}  # fmt: skip


def parse_bar_spec(text: str) -> Any:
    """``60s``/``1m``/``1h`` time, ``500t`` tick, ``1000v`` volume, ``8r`` range bars."""
    from orderflow.analytics.bars import BarKind, BarSpec

    m = re.fullmatch(r"\s*(\d+)\s*([a-z]+)\s*", text.lower())
    if m is None or m.group(2) not in _BAR_UNITS:
        raise ConfigError(
            f"setting analytics.bars: {text!r} is not a bar series (60s, 1m, 500t, 1000v, 8r)",
            field="analytics.bars",
        )
    kind, mult = _BAR_UNITS[m.group(2)]
    try:
        return BarSpec(BarKind(kind), int(m.group(1)) * mult)
    except ValueError as exc:
        raise ConfigError(f"setting analytics.bars: {exc}", field="analytics.bars") from exc


def build_params(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    """A parameter dataclass from a settings mapping: nested dataclasses recurse, lists become
    tuples, unknown keys and bad values raise :class:`ConfigError` naming the key."""
    import dataclasses
    import typing

    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"setting {where}.{key}: unknown key (known: {', '.join(sorted(known))})",
                field=f"{where}.{key}",
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = build_params(hint, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if exc.message.startswith("setting "):
            raise
        raise ConfigError(f"setting {where}: {exc.message}", field=where) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {where}: {exc}", field=where) from exc


def pipeline_params(settings: Settings, keep_mid_path: bool = False) -> Any:
    """The engine's :class:`~orderflow.engine.pipeline.PipelineParams` from the settings."""
    from orderflow.analytics.bars import BarParams
    from orderflow.analytics.book_metrics import BookMetricsParams
    from orderflow.analytics.clusters import ClusterParams
    from orderflow.analytics.delta import DeltaParams
    from orderflow.analytics.footprint import FootprintParams
    from orderflow.analytics.momentum import MomentumParams
    from orderflow.analytics.profile import ProfileParams
    from orderflow.analytics.vwap import VwapParams
    from orderflow.engine.pipeline import PipelineParams
    from orderflow.signals.accumulate import AccumulatorParams
    from orderflow.signals.detectors_l2 import L2Params
    from orderflow.signals.detectors_l3 import L3Params
    from orderflow.signals.evaluate import DETECTORS

    a, sg = settings.analytics, settings.signals
    accumulator = build_params(AccumulatorParams, sg.accumulator, "signals.accumulator")
    detectors = None
    if sg.detectors is not None:
        unknown = sorted(set(sg.detectors) - set(DETECTORS))
        if unknown:
            raise ConfigError(
                f"setting signals.detectors: unknown {unknown} (known: {', '.join(DETECTORS)})",
                field="signals.detectors",
            )
        detectors = frozenset(sg.detectors)
    if not settings.flags.use_l3:  # useL3 off: no order-by-order detectors, whatever the data
        from orderflow.engine.pipeline import L3_DETECTORS

        detectors = (detectors or frozenset(DETECTORS)) - L3_DETECTORS
    try:
        return PipelineParams(
            depth_levels=settings.book.depth_levels,
            bars=tuple(parse_bar_spec(b) for b in a.bars),
            bar_params=build_params(BarParams, a.bar, "analytics.bar"),
            footprint=build_params(FootprintParams, a.footprint, "analytics.footprint"),
            book=build_params(BookMetricsParams, a.book, "analytics.book"),
            momentum=build_params(MomentumParams, a.momentum, "analytics.momentum"),
            delta=build_params(DeltaParams, a.delta, "analytics.delta"),
            vwap=build_params(VwapParams, a.vwap, "analytics.vwap"),
            profile=build_params(ProfileParams, a.profile, "analytics.profile"),
            clusters=build_params(ClusterParams, a.clusters, "analytics.clusters"),
            l3=build_params(L3Params, sg.l3, "signals.l3"),
            l2=build_params(L2Params, sg.l2, "signals.l2"),
            accumulator=accumulator,
            confirm_series=sg.confirm_series,
            detectors=detectors,
            keep_mid_path=keep_mid_path,
        )
    except ValueError as exc:
        raise ConfigError(f"setting signals/analytics: {exc}", field="signals") from exc


def trading_params(settings: Settings) -> Any:
    """The trading engine's :class:`~orderflow.trading.params.TradingParams` from the settings;
    the broker profile is built too, so a bad override fails at start-up."""
    from orderflow.trading.broker import BrokerParams
    from orderflow.trading.params import TradingParams
    from orderflow.trading.risk import RiskParams
    from orderflow.trading.sessions import SessionParams
    from orderflow.trading.sizing import SizingParams
    from orderflow.trading.strategy import StrategyParams

    t = settings.trading
    params = TradingParams(
        risk=build_params(RiskParams, t.risk, "trading.risk"),
        sizing=build_params(SizingParams, t.sizing, "trading.sizing"),
        sessions=build_params(SessionParams, t.sessions, "trading.sessions"),
        broker=build_params(BrokerParams, t.broker, "trading.broker"),
        strategy=build_params(StrategyParams, t.strategy, "trading.strategy"),
    )
    params.broker.build()
    return params
