"""One typed settings object, read from a YAML file and ``ORDERFLOW_*`` environment variables.

Precedence (highest first): explicit overrides (CLI flags) > environment > YAML file > defaults.
Nested keys use ``__`` in the environment: ``ORDERFLOW_BOOK__DEPTH_LEVELS=20``. The file is
``--config FILE``, or ``ORDERFLOW_CONFIG``, or ``./orderflow.yaml`` when present. Settings are
built by :func:`load_settings` when a command starts, never at import time.

The sections of the engine are its own parameter dataclasses (``trading.risk`` *is* a
:class:`~orderflow.trading.risk.RiskParams`), validated by pydantic to their declared types:
booleans only from ``true/false/1/0/yes/no`` (any case), integers never from ``2.5``, numbers
always finite; a value the dataclass's own checks refuse stops the start too. Every refusal is a
:class:`ConfigError` of one line naming the dotted key, the value and the reason (the rules:
:mod:`orderflow.settings_rules`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from orderflow.analytics.params import (
    BarParams,
    BookMetricsParams,
    ClusterParams,
    DeltaParams,
    FootprintParams,
    MomentumParams,
    ProfileParams,
    VwapParams,
)
from orderflow.core.errors import ConfigError, ParameterError
from orderflow.model.instruments import get_instrument
from orderflow.settings_rules import (
    locate_error,
    refusal,
    settings_error,
    settings_leaves,
    strict_value,
)
from orderflow.signals.params import DETECTORS, AccumulatorParams, L2Params, L3Params, PullParams
from orderflow.trading.broker import BrokerParams
from orderflow.trading.orders import COMMAND_TIMEOUT_NS
from orderflow.trading.params import ServerTradingParams, TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.sessions import SessionParams
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import StrategyParams

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
_YAML_DATA: ContextVar[dict[str, Any] | None] = ContextVar("orderflow_yaml_data", default=None)


#: on every parameter-class section: whatever error the class raises lands at its key
_LOCATE = WrapValidator(locate_error)


class _Section(BaseModel):
    """A settings section: unknown keys refused, numbers finite (dataclass fields included)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FeatureFlags(_Section):
    """The original design's switches, same meaning as in the NinjaScript strategy."""

    use_python_helper: bool = Field(True, description="usePythonHelper: the bridge talks to us")
    use_l3: bool = Field(True, description="useL3: use order-by-order data when the feed has it")
    historical_only: bool = Field(False, description="HistoricalOnly: never send live orders")
    debug_mode: bool = Field(False, description="DebugMode: detail logs and per-stage timings")


class BookSettings(_Section):
    depth_levels: int = Field(10, ge=1, le=500, description="levels shown and converted")
    ladder_rows: int = Field(64, ge=1, le=1000, description="max NinjaTrader rows per side")
    ratio_levels: list[Annotated[int, Field(ge=1, le=500)]] = Field(
        [1, 5, 10],
        min_length=1,
        max_length=10,
        description="every answer's metrics.bid_ask_ratio: bid size / ask size over the top n "
        "levels, for each n listed",
    )
    allow_crossed_preopen: bool = Field(
        True, description="a crossed book is an anomaly only outside the pre-open"
    )


class DataSettings(_Section):
    dir: Path = Field(DEFAULT_DATA_DIR, description="recorded data folder (shared/data)")
    default_file: str = Field(
        "databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
        description="what `orderflow run` replays when no file is named (relative to dir)",
    )


class AnalyticsSettings(_Section):
    """Analytics (``orderflow analyze``, the pipeline). Each sub-section is the parameter class
    it names (see ``config.example.yaml``); unknown keys are refused."""

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
    bar: Annotated[BarParams, _LOCATE] = Field(
        default_factory=BarParams, description="BarParams: atr_period"
    )
    footprint: Annotated[FootprintParams, _LOCATE] = Field(
        default_factory=FootprintParams,
        description="FootprintParams: imbalance_ratio, min_delta, stacked_count",
    )
    book: Annotated[BookMetricsParams, _LOCATE] = Field(
        default_factory=BookMetricsParams,
        description="BookMetricsParams: imbalance, ofi, depth, pull_stack, walls",
    )
    momentum: Annotated[MomentumParams, _LOCATE] = Field(
        default_factory=MomentumParams, description="MomentumParams"
    )
    delta: Annotated[DeltaParams, _LOCATE] = Field(
        default_factory=DeltaParams, description="DeltaParams"
    )
    vwap: Annotated[VwapParams, _LOCATE] = Field(
        default_factory=VwapParams, description="VwapParams: reset, bands"
    )
    profile: Annotated[ProfileParams, _LOCATE] = Field(
        default_factory=ProfileParams, description="ProfileParams: value_area, hvn_ratio, ..."
    )
    clusters: Annotated[ClusterParams, _LOCATE] = Field(
        default_factory=ClusterParams, description="ClusterParams: granularity, thresholds"
    )

    @field_validator("bars")
    @classmethod
    def _bar_series(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_bar_spec(text)
        return value


class SignalSettings(_Section):
    """Detectors, accumulation and filters."""

    detectors: list[str] | None = Field(None, description="detectors to run (None: all)")
    l3: Annotated[L3Params, _LOCATE] = Field(
        default_factory=L3Params, description="L3Params: iceberg, large lots, spoof pulls"
    )
    l2: Annotated[L2Params, _LOCATE] = Field(
        default_factory=L2Params, description="L2Params: absorption, sweep, exhaustion, iceberg"
    )
    accumulator: Annotated[AccumulatorParams, _LOCATE] = Field(
        default_factory=AccumulatorParams,
        description="AccumulatorParams: half_life_ns, min_score, cooldown_ns, sessions, ...",
    )
    confirm_series: int | None = Field(
        None, ge=0, description="bar series whose closed bar must agree with a signal (None: off)"
    )
    horizons_s: list[float] = Field([1, 5, 30, 60], description="evaluation horizons, seconds")
    pull: Annotated[PullParams, _LOCATE] = Field(
        default_factory=PullParams,
        description="PullParams: the pulling/stacking detector (enabled, near_ticks, window_ns, "
        "min_size, accumulate)",
    )

    @field_validator("detectors")
    @classmethod
    def _known_detectors(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(DETECTORS))
        if unknown:
            raise ConfigError(
                f"setting signals.detectors: unknown {unknown} (known: {', '.join(DETECTORS)})",
                field="signals.detectors",
            )
        return value


class ViewSettings(_Section):
    """``server.view``: the dashboard's viewer stream and its history (bounded)."""

    heat_bucket_ms: float = Field(
        250.0, ge=1, le=60_000, description="heatmap column width in data time (ms)"
    )
    heat_ticks: int = Field(
        200, ge=1, le=5000, description="heatmap prices either side of the mid (ticks)"
    )
    heat_history_s: float = Field(
        3600.0, ge=1, le=7 * 86_400,
        description="heatmap columns kept for backfill (data seconds; 4 bytes per price each)",
    )  # fmt: skip
    prints: int = Field(
        200_000, ge=1000, le=100_000_000, description="prints kept per instrument for backfill"
    )
    signals: int = Field(
        10_000, ge=10, le=10_000_000, description="signals kept per instrument for backfill"
    )
    max_viewers: int = Field(
        16, ge=1, le=1024, description="viewers at once; the next one is closed with 1013"
    )
    frame_hz: float = Field(30.0, ge=1, le=30, description="viewer frames per second at most")
    queue_frames: int = Field(
        8, ge=1, le=1024, description="frames queued to a viewer before it is closed as too slow"
    )
    send_timeout_s: float = Field(
        2.0, ge=0.1, le=60, description="a viewer whose socket takes no frame this long: closed"
    )


class ServerSettings(_Section):
    """``orderflow serve``: where it listens and who may talk to it."""

    host: str = Field("127.0.0.1", description="bind address; anything but loopback needs a token")
    port: int = Field(8765, ge=1, le=65535, description="TCP port (HTTP and WebSocket)")
    token: str | None = Field(None, description="shared secret clients must present")
    record_dir: Path | None = Field(
        Path("recordings"),
        description="every inbound batch is recorded here (per instrument and day); null: off",
    )
    command_timeout_s: float = Field(
        COMMAND_TIMEOUT_NS / 1e9,
        gt=0,
        description="an order command unanswered this long is timed out (desk and outbox)",
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
    rest_owner_silence_s: float = Field(
        30.0,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="a REST client that fed an instrument owns it until silent this long "
        "(others get 409); a WebSocket client owns it while connected",
    )
    record_max_open_files: int = Field(
        256,
        ge=4,
        le=4096,
        description="recording files kept open at once; the least recently written is closed "
        "first (one file per instrument and day)",
    )
    token_file: Path | None = Field(
        None,
        description="a file holding the token (private to its owner: chmod 600); instead of "
        "server.token, so the secret is on no command line",
    )
    monitor_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how often the machine (CPU, memory, files, disk, loop "
        "lag) is sampled for /metrics and /health",
    )
    disk_min_free_mb: float = Field(
        1024.0,
        ge=0,
        le=1e9,
        allow_inf_nan=False,
        description="alert disk_low when the recording or journal volume has less free space",
    )
    fd_alert_ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="alert fds_near_limit when open files reach this share of the fd limit",
    )
    loop_lag_alert_ms: float = Field(
        250.0,
        gt=0,
        le=600_000,
        allow_inf_nan=False,
        description="alert loop_lag when the event loop runs a timer this much late",
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
    cluster_refresh_ms: float = Field(
        30_000.0, ge=0, le=3_600_000,
        description="an answer's clusters and profile are read again without a material change "
        "(a cluster began or ended, its side or strength step changed; the POC or value area "
        "moved) at most this often, in data time; 0: at every change",
    )  # fmt: skip
    view: ViewSettings = Field(
        default_factory=ViewSettings, description="the dashboard's viewer stream (bounds)"
    )
    work_after_ack: bool = Field(
        False,
        description="a WebSocket batch's dashboard view and alert checks are done after its ack "
        "is written (still before the next batch is applied) instead of before it: pays when "
        "the clients have cores of their own; where every core is busy the work waits behind "
        "the woken client and the next batch waits behind it (docs/performance.md)",
    )  # fmt: skip


class TradingSettings(_Section):
    """The trading engine. Each sub-section is the parameter class it names (see
    ``config.example.yaml`` and ``docs/trading.md``); unknown keys are refused."""

    risk: Annotated[RiskParams, _LOCATE] = Field(
        default_factory=RiskParams,
        description="RiskParams: daily loss limit, profit goal, trailing drawdown, limits",
    )
    sizing: Annotated[SizingParams, _LOCATE] = Field(
        default_factory=SizingParams,
        description="SizingParams: method fixed/risk/atr, risk_per_trade, auto_micro",
    )
    sessions: Annotated[SessionParams, _LOCATE] = Field(
        default_factory=SessionParams,
        description="SessionParams: calendar, rth_only, no-trade windows, flatten time",
    )
    broker: Annotated[BrokerParams, _LOCATE] = Field(
        default_factory=BrokerParams,
        description="BrokerParams: profile, per-product overrides of fees and margins",
    )
    server: Annotated[ServerTradingParams, _LOCATE] = Field(
        default_factory=ServerTradingParams,
        description="ServerTradingParams: enabled, account, start_behavior, require_report, "
        "use_sessions, strategy, clock",
    )
    strategy: Annotated[StrategyParams, _LOCATE] = Field(
        default_factory=StrategyParams,
        description="StrategyParams: the reference strategy's entries, exits and timing",
    )
    journal: Path = Field(
        Path("journal/orderflow.sqlite"),
        description="the trading journal (SQLite): every order, fill and risk decision",
    )

    @model_validator(mode="after")
    def _broker_profile_builds(self) -> TradingSettings:
        """A bad profile name or override fails here, at the key of the field that fails."""
        try:
            self.broker.build()
        except ConfigError as exc:
            reason = str(exc.__cause__ or exc.message)
            for f in dataclasses.fields(BrokerParams):
                value = getattr(self.broker, f.name)
                try:
                    BrokerParams(**{f.name: value}).build()
                except ConfigError:
                    key = f"trading.broker.{f.name}"
                    raise refusal(key, value, f"is refused: {reason}") from exc
            raise
        return self


class LoggingSettings(_Section):
    config: Path | None = Field(None, description="logging dictConfig YAML (log_conf.yaml)")
    level: str = Field("INFO", description="root level when no config file is given")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ParameterError(f"unknown log level {value!r}", field="level")
        return level


class Settings(BaseSettings):
    """Everything configurable. See ``config.example.yaml`` for a documented copy."""

    # environment values reach the validators as text: lists and mappings are decoded from JSON
    # by strict_value, which names the exact key of a bad one
    model_config = SettingsConfigDict(
        env_prefix="ORDERFLOW_",
        env_nested_delimiter="__",
        extra="forbid",
        allow_inf_nan=False,
        enable_decoding=False,
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

    @model_validator(mode="before")
    @classmethod
    def _strict_scalars(cls, data: Any) -> Any:
        return strict_value(data, Settings, "") if isinstance(data, dict) else data

    @field_validator("instrument")
    @classmethod
    def _known_instrument(cls, value: str) -> str:
        try:
            get_instrument(value)
        except ConfigError as exc:
            raise ParameterError(exc.message, field="instrument") from exc  # placed at its key
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
        data = _YAML_DATA.get()
        if data is None:
            return init_settings, env_settings
        return init_settings, env_settings, InitSettingsSource(settings_cls, data)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: YAML file, then environment, then ``overrides`` (CLI flags, nested
    mappings for sections).

    Any problem raises :class:`ConfigError` of one line naming the key, the value and the reason.
    """
    _known_environment()
    fp = config_file(path)
    token = _YAML_DATA.set(_read_yaml(fp) if fp is not None else None)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise settings_error(exc, Settings) from exc
    except ConfigError as exc:
        if exc.message.startswith("setting "):
            raise
        where = exc.details.get("field", "settings")
        raise ConfigError(f"setting {where}: {exc.message}", field=where) from exc
    finally:
        _YAML_DATA.reset(token)


def _known_environment() -> None:
    """An ``ORDERFLOW_*`` variable that names no section is a typo the operator must hear of
    (``ORDERFLOW_TRADNG__RISK__DAILY_LOSS_LIMIT`` would otherwise change nothing, silently);
    unknown keys inside a section are refused by the sections themselves."""
    sections = set(Settings.model_fields)
    for name in os.environ:
        if not name.upper().startswith("ORDERFLOW_"):
            continue
        rest = name[len("ORDERFLOW_") :].lower()
        if rest != "config" and rest.split("__", 1)[0] not in sections:
            raise ConfigError(
                f"setting {name}: names no setting (ORDERFLOW_<SECTION>__<KEY>, sections: "
                f"{', '.join(sorted(sections))}; or ORDERFLOW_CONFIG)",
                field=name,
            )


def config_file(path: str | Path | None = None) -> Path | None:
    """The YAML file the settings come from (``path``, ``ORDERFLOW_CONFIG`` or
    ``./orderflow.yaml``); None when there is none."""
    file_path = path or os.environ.get("ORDERFLOW_CONFIG")
    if file_path is None and Path("orderflow.yaml").exists():
        file_path = "orderflow.yaml"
    return None if file_path is None else Path(file_path)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same rules, in C when built


def _read_yaml(fp: Path) -> dict[str, Any]:
    if not fp.exists():
        raise ConfigError(f"config file {fp} does not exist", field="config")
    try:
        loaded = yaml.load(fp.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).split())
        raise ConfigError(f"config file {fp} is not valid YAML: {msg}", field="config") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {fp} must hold a mapping", field="config")
    return loaded or {}


def settings_sources(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> tuple[Settings, Path | None, dict[str, str]]:
    """The effective settings, their file, and where each leaf's value came from: ``cli``,
    ``env``, ``file`` or ``default`` (the highest that sets it)."""
    from pydantic_settings import EnvSettingsSource

    fp = config_file(path)
    settings = load_settings(fp, **(overrides or {}))
    layers = [("cli", overrides or {}), ("env", EnvSettingsSource(Settings)()),
              ("file", _read_yaml(fp) if fp is not None else {})]  # fmt: skip

    def sets(data: Any, parts: list[str]) -> bool:
        for part in parts:
            if not isinstance(data, dict):
                return True  # the whole sub-section was given at once
            if part not in data:
                return False
            data = data[part]
        return True

    sources = {}
    for leaf in settings_leaves(Settings):
        parts = leaf.key.split(".")
        sources[leaf.key] = next((n for n, d in layers if sets(d, parts)), "default")
    return settings, fp, sources


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


def pipeline_params(settings: Settings, keep_mid_path: bool = False, measure: bool = False) -> Any:
    """The engine's :class:`~orderflow.engine.pipeline.PipelineParams` from the settings;
    ``measure`` (``signals evaluate``) runs every detector, pulling/stacking included."""
    from orderflow.engine.pipeline import PipelineParams

    a, sg = settings.analytics, settings.signals
    detectors = None if sg.detectors is None else frozenset(sg.detectors)
    if not settings.flags.use_l3:  # useL3 off: no order-by-order detectors, whatever the data
        from orderflow.engine.pipeline import L3_DETECTORS

        detectors = (detectors or frozenset(DETECTORS)) - L3_DETECTORS
    try:
        return PipelineParams(
            depth_levels=settings.book.depth_levels,
            ratio_levels=tuple(settings.book.ratio_levels),
            bars=tuple(parse_bar_spec(b) for b in a.bars),
            bar_params=a.bar,
            footprint=a.footprint,
            book=a.book,
            momentum=a.momentum,
            delta=a.delta,
            vwap=a.vwap,
            profile=a.profile,
            clusters=a.clusters,
            l3=sg.l3,
            l2=sg.l2,
            accumulator=sg.accumulator,
            confirm_series=sg.confirm_series,
            detectors=detectors,
            keep_mid_path=keep_mid_path,
            pull=dataclasses.replace(sg.pull, enabled=True) if measure else sg.pull,
        )
    except ValueError as exc:
        raise ConfigError(f"setting signals/analytics: {exc}", field="signals") from exc


def trading_params(settings: Settings) -> TradingParams:
    """The trading engine's :class:`~orderflow.trading.params.TradingParams` from the settings
    (the broker profile was built when the settings were validated)."""
    t = settings.trading
    if t.strategy.exits.cluster_pulled and not settings.signals.pull.enabled:
        # the rule reads the pulling detector's signals: without it, it would never fire
        raise refusal("trading.strategy.exits.cluster_pulled", True,
                      "needs the pulling detector: set signals.pull.enabled: true")  # fmt: skip
    return TradingParams(risk=t.risk, sizing=t.sizing, sessions=t.sessions, broker=t.broker,
                         strategy=t.strategy)  # fmt: skip
