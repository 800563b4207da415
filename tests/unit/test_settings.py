import json
import os
import types
from pathlib import Path

import pytest

from orderflow.core.errors import ConfigError
from orderflow.settings import PROJECT_ROOT, Settings, load_settings


def test_defaults_without_file_or_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.instrument == "ES"
    assert s.book.depth_levels == 10
    assert s.flags.use_l3 is True


def test_example_config_loads_and_documents_every_section():
    s = load_settings(PROJECT_ROOT / "config.example.yaml")
    assert s.logging.config == Path("log_conf.yaml")
    assert s.data.default_file.endswith(".mbo.dbn.zst")


def test_environment_overrides_the_file(monkeypatch, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("instrument: NQ\nbook:\n  depth_levels: 5\n")
    monkeypatch.setenv("ORDERFLOW_BOOK__DEPTH_LEVELS", "20")
    monkeypatch.setenv("ORDERFLOW_INSTRUMENT", "MES")
    s = load_settings(cfg)
    assert s.book.depth_levels == 20
    assert s.instrument == "MES"


def test_bad_value_names_the_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("book:\n  depth_levels: 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "book.depth_levels" in str(info.value)


def test_unknown_key_and_unknown_instrument_are_config_errors(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("bogus: 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_settings(cfg)
    cfg.write_text("instrument: XX\n")
    with pytest.raises(ConfigError, match="instrument"):
        load_settings(cfg)


def test_example_config_maps_onto_the_pipeline_defaults():
    from orderflow.engine import PipelineParams
    from orderflow.settings import pipeline_params

    assert pipeline_params(load_settings(PROJECT_ROOT / "config.example.yaml")) == PipelineParams()


def test_analytics_and_signal_settings_reach_the_parameter_classes(tmp_path, monkeypatch):
    from orderflow.analytics.bars import BarKind, BarSpec
    from orderflow.settings import pipeline_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "analytics:\n  bars: ['30s', '500t', '1000v', '8r']\n"
        "  footprint: {imbalance_ratio: 3.0}\n"
        "  book: {imbalance: {levels: 5, decay: 0.8}}\n"
        "  vwap: {multipliers: [1, 2]}\n"
        "signals:\n  detectors: [iceberg, sweep]\n  l3: {iceberg_min_refills: 4}\n"
        "  accumulator: {sessions: [['09:30', '16:00']], weights: {iceberg: 2.0}}\n"
        "  confirm_series: 0\n"
    )
    monkeypatch.setenv("ORDERFLOW_SIGNALS__L2", '{"sweep_min_levels": 5}')
    p = pipeline_params(load_settings(cfg))
    assert p.bars == (
        BarSpec(BarKind.TIME, 30),
        BarSpec(BarKind.TICK, 500),
        BarSpec(BarKind.VOLUME, 1000),
        BarSpec(BarKind.RANGE, 8),
    )
    assert p.footprint.imbalance_ratio == 3.0
    assert (p.book.imbalance.levels, p.book.imbalance.decay) == (5, 0.8)
    assert p.vwap.multipliers == (1, 2)
    assert p.detectors == frozenset({"iceberg", "sweep"})
    assert p.l3.iceberg_min_refills == 4 and p.l2.sweep_min_levels == 5
    assert p.accumulator.sessions == (("09:30", "16:00"),)
    assert p.accumulator.weights == {"iceberg": 2.0}
    assert p.confirm_series == 0


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("analytics:\n  bars: ['7x']\n", "analytics.bars"),
        ("analytics:\n  book: {walls: {multiple: -1}}\n", "analytics.book.walls"),
        ("analytics:\n  profile: {value_areas: 0.5}\n", "analytics.profile.value_areas"),
        ("signals:\n  detectors: [nonsense]\n", "signals.detectors"),
        ("signals:\n  l2: {sweep_min_levelz: 1}\n", "signals.l2.sweep_min_levelz"),
    ],
)
def test_bad_analytics_settings_name_the_key(tmp_path, yaml_text, key):
    from orderflow.settings import pipeline_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        pipeline_params(load_settings(cfg))
    assert key in str(info.value)


def test_use_l3_off_drops_the_order_by_order_detectors(tmp_path):
    from orderflow.engine.pipeline import L2_DETECTORS, L3_DETECTORS
    from orderflow.settings import pipeline_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text("flags:\n  use_l3: false\n")
    params = pipeline_params(load_settings(cfg))
    assert params.detectors is not None and not params.detectors & L3_DETECTORS
    assert params.detectors >= L2_DETECTORS
    assert pipeline_params(load_settings(None)).detectors is None  # on: every detector


def test_example_config_maps_onto_the_trading_defaults():
    from orderflow.settings import trading_params
    from orderflow.trading.params import TradingParams

    assert trading_params(load_settings(PROJECT_ROOT / "config.example.yaml")) == TradingParams()
    assert trading_params(load_settings(None)) == TradingParams()


def test_trading_settings_reach_the_parameter_classes(tmp_path):
    from orderflow.settings import trading_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "trading:\n  risk: {daily_loss_limit: 300, max_position_by_symbol: {MES: 20}}\n"
        "  sizing: {method: atr, atr_multiple: 1.5}\n"
        "  sessions: {rth_only: true, no_trade_windows: [['07:25', '07:35']],\n"
        "             extra_early_closes: {'2024-07-03': '12:15'}}\n"
        "  broker: {overrides: {ES: {commission_per_side: 0.59}}}\n"
    )
    p = trading_params(load_settings(cfg))
    assert p.risk.daily_loss_limit == 300 and p.risk.position_limit("MESZ4") == 20
    assert (p.sizing.method, p.sizing.atr_multiple) == ("atr", 1.5)
    assert p.sessions.no_trade_windows == (("07:25", "07:35"),)
    assert p.sessions.extra_early_closes == {"2024-07-03": "12:15"}
    assert p.broker.build().round_turn("ES") == 2 * (0.59 + 1.38 + 0.10 + 0.02)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("trading:\n  risk: {daily_los_limit: 1}\n", "trading.risk.daily_los_limit"),
        ("trading:\n  risk: {profit_lock_fraction: 2}\n", "trading.risk"),
        ("trading:\n  sizing: {method: kelly}\n", "trading.sizing"),
        ("trading:\n  sessions: {no_trade_windows: [['7', '8']]}\n", "trading.sessions"),
        ("trading:\n  broker: {profile: cheapest}\n", "trading.broker.profile"),
        ("trading:\n  broker: {overrides: {ES: {fee: 1}}}\n", "trading.broker"),
        ("trading:\n  bogus: {}\n", "trading.bogus"),
    ],
)
def test_bad_trading_settings_name_the_key(tmp_path, yaml_text, key):
    from orderflow.settings import trading_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        trading_params(load_settings(cfg))
    assert key in str(info.value)


def test_the_trading_journal_path_defaults_as_documented():
    default = load_settings(None).trading.journal
    assert default == Path("journal/orderflow.sqlite")
    assert load_settings(PROJECT_ROOT / "config.example.yaml").trading.journal == default


# ---- every setting parsed to its declared type, or one line naming the key ----------------------
def _env_or_yaml(tmp_path, monkeypatch, how: str, key: str, value, text: str | None = None):  # type: ignore[no-untyped-def]
    """Settings with ``key`` (dotted) set to ``value`` in a YAML file, or to ``text`` (default:
    ``str(value)``) in its ``ORDERFLOW_`` environment variable."""
    import yaml

    monkeypatch.chdir(tmp_path)
    if how == "env":
        monkeypatch.setenv("ORDERFLOW_" + key.replace(".", "__").upper(),
                           str(value) if text is None else text)  # fmt: skip
        return load_settings(None)
    tree = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(tree))
    return load_settings(cfg)


@pytest.mark.parametrize("how", ["yaml", "env"])
@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [("false", "false", False), ("FALSE", "FALSE", False), ("no", "no", False), ("0", "0", False),
     ("true", "true", True), ("Yes", "Yes", True), ("1", "1", True)],
)  # fmt: skip
def test_the_strategy_switch_means_what_it_says(tmp_path, monkeypatch, how, value, text, expected):
    """``strategy: "false"`` (a string) and ``ORDERFLOW_TRADING__SERVER__STRATEGY=false`` used to
    reach the engine as the truthy string 'false' and start the reference strategy."""
    s = _env_or_yaml(tmp_path, monkeypatch, how, "trading.server.strategy", value, text)
    assert s.trading.server.strategy is expected


@pytest.mark.parametrize("how", ["yaml", "env"])
def test_the_engine_switch_off_means_no_strategy_not_no_engine(tmp_path, monkeypatch, how):
    from orderflow.cli.serve import trading_args as _trading_args
    from orderflow.server.hub import Hub

    s = _env_or_yaml(tmp_path, monkeypatch, how, "trading.server.enabled", "false")
    assert s.trading.server.enabled is False
    args = _trading_args(s)  # the engine is wired in: its desk and risk checks take API orders
    assert args["trading_server"].enabled is False
    hub = Hub(**args)
    assert hub.trading.server.strategy is False  # switched off: no strategy runs


@pytest.mark.parametrize("how", ["yaml", "env"])
def test_a_daily_loss_limit_from_the_environment_is_a_number(tmp_path, monkeypatch, how):
    from orderflow.settings import trading_params

    s = _env_or_yaml(tmp_path, monkeypatch, how, "trading.risk.daily_loss_limit", "300")
    assert trading_params(s).risk.daily_loss_limit == 300.0
    assert isinstance(s.trading.risk.daily_loss_limit, float)


NAN, INF = float("nan"), float("inf")
BAD_CASES = [
    # key, YAML value, what the line says of it; environment text, what the line says of it
    ("trading.risk.daily_loss_limit", NAN, "nan is not a finite number",
     "nan", "'nan' is not a finite number"),
    ("trading.risk.daily_loss_limit", INF, "inf is not a finite number",
     "Infinity", "'Infinity' is not a finite number"),
    ("trading.risk.daily_loss_limit", -300,
     "-300 is refused: daily_loss_limit: -300.0 must be >= 0",
     "-300", "'-300' is refused: daily_loss_limit: -300.0 must be >= 0"),
    ("trading.risk.max_position", 2.5, "2.5 is not a whole number",
     "2.5", "'2.5' is not an integer"),
    ("trading.risk.max_position", "2.5", "'2.5' is not an integer",
     "2,5", "'2,5' is not an integer"),
    ("trading.risk.max_position", True, "true is a boolean, not a number",
     "true", "'true' is not an integer"),
    ("trading.server.strategy", "off", "'off' is not a boolean (true/false/1/0/yes/no)",
     "off", "'off' is not a boolean (true/false/1/0/yes/no)"),
    ("trading.server.strategy", 2, "2 is not a boolean", "maybe", "'maybe' is not a boolean"),
    ("trading.server.enabled", 0.0, "0.0 is not a boolean", "", "'' is not a boolean"),
    ("trading.sizing.risk_per_trade", -INF, "-inf is not a finite number",
     "-inf", "'-inf' is not a finite number"),
    ("server.command_timeout_s", INF, "inf is not a finite number",
     "inf", "'inf' is not a finite number"),
    ("server.port", 0, "0 should be greater than or equal to 1",
     "0", "'0' should be greater than or equal to 1"),
    ("analytics.book.walls.multiple", -1.0, "-1.0 is refused: walls need multiple > 0",
     "-1", "'-1' is refused: walls need multiple > 0"),
    ("analytics.bar.atr_period", 0,
     "0 is refused: atr_period must be a whole number in [1, 10000], got 0",
     "0", "'0' is refused: atr_period must be a whole number in [1, 10000], got 0"),
    ("analytics.bar.atr_period", 10_001,
     "10001 is refused: atr_period must be a whole number in [1, 10000], got 10001",
     "10001", "'10001' is refused: atr_period must be a whole number in [1, 10000], got 10001"),
    ("analytics.vwap.multipliers", [1.0, -2.0],
     "[1.0, -2.0] is refused: multipliers[1] must be a finite number > 0, got -2.0",
     "[1, -2]", "[1, -2] is refused: multipliers[1] must be a finite number > 0, got -2.0"),
    ("analytics.vwap.multipliers", [],
     "[] is refused: multipliers needs 1 to 10 band widths, got 0",
     "[]", "[] is refused: multipliers needs 1 to 10 band widths, got 0"),
]  # fmt: skip


@pytest.mark.parametrize("how", ["yaml", "env"])
@pytest.mark.parametrize(("key", "value", "says", "text", "env_says"), BAD_CASES)
def test_a_bad_setting_stops_with_one_line_naming_key_value_and_reason(
    tmp_path, monkeypatch, how, key, value, says, text, env_says
):
    with pytest.raises(ConfigError) as info:
        _env_or_yaml(tmp_path, monkeypatch, how, key, value, text)
    line = info.value.message
    assert line.startswith(f"setting {key}: {says if how == 'yaml' else env_says}")
    assert "\n" not in line
    assert info.value.details["field"] == key


def test_a_bad_value_on_the_command_line_names_its_key(monkeypatch, tmp_path):
    from orderflow.settings_rules import parse_overrides

    monkeypatch.chdir(tmp_path)
    s = load_settings(None, **parse_overrides(["trading.server.strategy=FALSE",
                                               "trading.risk.max_position=3",
                                               "analytics.vwap.multipliers=[1, 2]"]))  # fmt: skip
    assert (s.trading.server.strategy, s.trading.risk.max_position) == (False, 3)
    assert s.analytics.vwap.multipliers == (1.0, 2.0)
    with pytest.raises(ConfigError, match=r"^setting trading.risk.max_position: '2.5' is not an"):
        load_settings(None, **parse_overrides(["trading.risk.max_position=2.5"]))
    with pytest.raises(ConfigError, match=r"^--set 'max_position': expected KEY=VALUE"):
        parse_overrides(["max_position"])


@pytest.mark.parametrize(
    "name", ["ORDERFLOW_TRADNG__RISK__DAILY_LOSS_LIMIT", "ORDERFLOW_TRADING_RISK__MAX_POSITION",
             "orderflow_riskk"],
)  # fmt: skip
def test_an_environment_variable_that_names_no_setting_stops_the_start(monkeypatch, tmp_path, name):
    """A misspelt section used to change nothing, silently: the operator believed a limit set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, "100")
    with pytest.raises(ConfigError, match=rf"^setting {name}: names no setting"):
        load_settings(None)
    monkeypatch.delenv(name)
    monkeypatch.setenv("ORDERFLOW_CONFIG", str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):  # ORDERFLOW_CONFIG is known
        load_settings(None)


def test_a_text_setting_refuses_a_yaml_boolean(tmp_path):
    """``account: no`` is YAML's false: the account would have been named 'False'."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trading:\n  server: {account: no}\n")
    with pytest.raises(ConfigError, match=r"^setting trading.server.account: false is a YAML"):
        load_settings(cfg)


def test_every_section_refuses_an_unknown_key(tmp_path):
    """flags, book, data and logging used to drop a misspelt key silently."""
    cfg = tmp_path / "c.yaml"
    for section in ("flags", "book", "data", "logging", "trading.risk", "analytics.book.walls"):
        tree: dict = {"use_l33": True}
        for part in reversed(section.split(".")):
            tree = {part: tree}
        cfg.write_text(json.dumps(tree))
        with pytest.raises(ConfigError, match=rf"^setting {section}.use_l33: unknown key \(known"):
            load_settings(cfg)


def test_the_sections_are_the_engines_parameter_classes():
    from orderflow.analytics.book_metrics import BookMetricsParams
    from orderflow.server.trading import ServerTradingParams as FromServer
    from orderflow.trading.params import ServerTradingParams
    from orderflow.trading.risk import RiskParams

    s = load_settings(None)
    assert type(s.trading.risk) is RiskParams
    assert type(s.trading.server) is ServerTradingParams is FromServer
    assert type(s.analytics.book) is BookMetricsParams


# ---- every leaf, through YAML and the environment (property) ----------------------------------
def _all_leaves(tp, prefix=""):  # type: ignore[no-untyped-def]
    """Every settings leaf, walked here independently of ``settings_leaves``: model fields and
    dataclass fields, recursively."""
    import dataclasses
    import typing

    from pydantic import BaseModel

    tp = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        items = [(n, f.annotation) for n, f in tp.model_fields.items()]
    elif dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        items = [(f.name, hints[f.name]) for f in dataclasses.fields(tp)]
    else:
        return [prefix[:-1]]
    return [k for name, sub in items for k in _all_leaves(sub, f"{prefix}{name}.")]


def test_settings_leaves_are_every_field_of_every_section():
    from orderflow.settings import Settings
    from orderflow.settings_rules import settings_leaves

    keys = [leaf.key for leaf in settings_leaves(Settings)]
    assert keys == _all_leaves(Settings)
    assert len(keys) > 150 and "trading.risk.daily_loss_limit" in keys
    assert "analytics.book.walls.multiple" in keys and "trading.server.strategy" in keys


class _Env:
    """``ORDERFLOW_*`` exactly as given for one load (hypothesis cannot use monkeypatch)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __enter__(self) -> None:
        import os

        self.saved = {k: v for k, v in os.environ.items() if k.startswith("ORDERFLOW_")}
        for k in self.saved:
            del os.environ[k]
        os.environ.update(self.env)

    def __exit__(self, *exc: object) -> None:
        import os

        for k in self.env:
            os.environ.pop(k, None)
        os.environ.update(self.saved)


def _load(folder: Path, key: str, how: str, value):  # type: ignore[no-untyped-def]
    import yaml

    if how == "env":
        with _Env({"ORDERFLOW_" + key.replace(".", "__").upper(): value}):
            return load_settings(None)
    tree = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    cfg = folder / "leaf.yaml"
    cfg.write_text(yaml.safe_dump(tree))
    with _Env({}):
        return load_settings(cfg)


@pytest.fixture
def fast_dir(tmp_path):  # type: ignore[no-untyped-def]
    """A folder in memory when the machine has one (thousands of tiny YAML files are written:
    on a virtual disk each write costs milliseconds), else ``tmp_path``."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="orderflow-settings-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _typed_at(settings, key: str):  # type: ignore[no-untyped-def]
    for part in key.split("."):
        settings = getattr(settings, part)
    return settings


def _bounds(key: str) -> list[float]:
    """Values just outside a leaf's declared bounds (pydantic ``ge``/``gt``/``le``/``lt``)."""
    import annotated_types as at

    from orderflow.settings_rules import type_at

    parent, _, name = key.rpartition(".")
    model = type_at(Settings, parent) if parent else None
    fields = getattr(model, "model_fields", None) or {}
    out: list[float] = []
    for m in fields[name].metadata if name in fields else ():
        if isinstance(m, at.Ge):
            out.append(m.ge - 1)
        elif isinstance(m, at.Gt):
            out.append(m.gt)
        elif isinstance(m, at.Le):
            out.append(m.le + 1)
        elif isinstance(m, at.Lt):
            out.append(m.lt)
    return out


_WORDS = {True: ["true", "1", "yes"], False: ["false", "0", "no"]}


def _valid(draw, leaf):  # type: ignore[no-untyped-def]
    """(YAML value, environment text or None, the typed value expected) for a leaf."""
    import enum
    import string
    import typing

    from hypothesis import strategies as st

    tp, default = leaf.annotation, leaf.default
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        if default is None and draw(st.booleans()):
            return None, None, None  # null: YAML only
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        b = draw(st.booleans())
        word = draw(st.sampled_from(_WORDS[b]))
        word = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in word)
        return draw(st.sampled_from([b, word])), word, b
    if tp is int:
        base = default if isinstance(default, int) else 1
        v = draw(st.integers(base, base + 5))
        return v, str(v), v
    if tp is float:
        base = default if isinstance(default, float | int) else 1.0
        v = draw(st.floats(base, base * 2 + 1, allow_nan=False, allow_infinity=False))
        return v, repr(v), v
    if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        choices = list(args) if origin is typing.Literal else list(tp)
        v = draw(st.sampled_from(choices))
        text = v.value if isinstance(v, enum.Enum) else v
        return text, text, v
    if tp in (str, Path):
        text = draw(st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=8))
        return text, text, tp(text)
    if origin in (tuple, list) and args and args[0] in (int, float, str):
        item = {int: st.integers(1, 99), float: st.floats(0.5, 99.0, allow_nan=False),
                str: st.text(string.ascii_uppercase, min_size=1, max_size=4)}[args[0]]  # fmt: skip
        size = len(args) if args[-1] is not Ellipsis else draw(st.integers(1, 4))
        v = draw(st.lists(item, min_size=size, max_size=size))
        return v, json.dumps(v), tuple(v) if origin is tuple else v
    plain = json.loads(json.dumps(default, default=list))  # other containers: the default
    return plain, json.dumps(plain), default


def _invalid(draw, leaf):  # type: ignore[no-untyped-def]
    """(YAML value, environment text or None) of the wrong type, not finite or out of bounds."""
    import enum
    import typing

    from hypothesis import strategies as st

    tp = leaf.annotation
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    bounds = _bounds(leaf.key)
    if tp is bool:
        return (
            draw(st.sampled_from(["maybe", "off", "on", "tru", 2, -1, 0.5, [True]])),
            draw(st.sampled_from(["maybe", "off", "on", "tru", "2", "", " true", "yes!"])),
        )
    if tp is int:
        yaml_bad = [2.5, "2.5", float("nan"), True, "ten", [1], *bounds]
        env_bad = ["2.5", "nan", "ten", "1e3", "0x10", *map(str, bounds)]
        return draw(st.sampled_from(yaml_bad)), draw(st.sampled_from(env_bad))
    if tp is float:
        yaml_bad = [float("nan"), float("inf"), float("-inf"), True, "ten", [1.0], *bounds]
        env_bad = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "ten", *map(str, bounds)]
        return draw(st.sampled_from(yaml_bad)), draw(st.sampled_from(env_bad))
    if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return draw(st.sampled_from(["bogus", 3, True])), "bogus"
    if tp in (str, Path):
        return draw(st.sampled_from([[1, 2], {"a": 1}, True])), None  # any text is text
    args = typing.get_args(tp)
    if origin in (tuple, list) and args and args[0] is float:
        return [1.0, float("nan")], "[1.0, NaN]"
    if origin in (tuple, list, dict):
        return draw(st.sampled_from(["x", 5, True])), draw(st.sampled_from(["[1,", "x", "{"]))
    return [object()], None  # pragma: no cover - every leaf type is listed above


def test_every_leaf_round_trips_its_type_and_refuses_a_bad_value_naming_its_key(fast_dir):
    """Each settings leaf, through YAML and through the environment: a valid value of its type
    comes back as that typed value (or, when the parameter class's own checks refuse it, as one
    line naming that key); a value of the wrong type, not finite or out of bounds never loads
    and the line names that key."""
    import re

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from orderflow.settings_rules import settings_leaves

    leaves = settings_leaves(Settings)

    def names_key(exc: ConfigError, key: str) -> bool:
        return re.match(rf"setting {re.escape(key)}[.:]", exc.message) is not None

    # no shrinking: a failure's message names the leaf, the source and the value already
    @settings(max_examples=2, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(data=st.data())
    def check(data):  # type: ignore[no-untyped-def]
        for leaf in leaves:
            yaml_value, text, expected = _valid(data.draw, leaf)
            for how, value in (("yaml", yaml_value), ("env", text)):
                if value is None and how == "env":
                    continue
                try:
                    got = _typed_at(_load(fast_dir, leaf.key, how, value), leaf.key)
                except ConfigError as exc:
                    assert names_key(exc, leaf.key), (leaf.key, how, value, exc.message)
                    continue
                assert got == expected and type(got) is type(expected), (leaf.key, how, value)
            yaml_bad, env_bad = _invalid(data.draw, leaf)
            for how, value in (("yaml", yaml_bad), ("env", env_bad)):
                if value is None:
                    continue
                try:
                    got = _typed_at(_load(fast_dir, leaf.key, how, value), leaf.key)
                except ConfigError as exc:
                    assert names_key(exc, leaf.key), (leaf.key, how, value, exc.message)
                    assert "\n" not in exc.message
                else:
                    raise AssertionError(f"{leaf.key} from {how}: {value!r} loaded as {got!r}")

    check()


@pytest.mark.parametrize("how", ["yaml", "env"])
def test_every_boolean_and_number_obeys_a_value_other_than_its_default(fast_dir, how):
    """No switch or limit is ignored: each one set away from its default (booleans flipped,
    integers + 2, numbers halved) comes back as exactly that typed value."""
    from orderflow.settings_rules import settings_leaves

    # a value other than the default that the class's cross-field checks also accept
    other = {"trading.sessions.last_year": 2031}
    checked = 0
    for leaf in settings_leaves(Settings):
        if leaf.annotation not in (bool, int, float):
            continue
        base = leaf.default
        value = (not base if leaf.annotation is bool else base + 2 if leaf.annotation is int
                 else base / 2 if base else 0.5)  # fmt: skip
        value = other.get(leaf.key, value)
        text = str(value).lower() if how == "env" else value
        got = _typed_at(_load(fast_dir, leaf.key, how, text), leaf.key)
        assert got == value and got != base and type(got) is type(value), leaf.key
        checked += 1
    assert checked > 120


@pytest.mark.parametrize("how", ["env", "cli"])
def test_null_turns_an_optional_setting_off_and_an_empty_path_is_refused(
    monkeypatch, tmp_path, how
):
    """``ORDERFLOW_SERVER__RECORD_DIR=null`` used to record into a folder named 'null', and an
    empty value into the working directory itself."""
    from orderflow.settings_rules import parse_overrides

    monkeypatch.chdir(tmp_path)

    def load(text: str):  # type: ignore[no-untyped-def]
        if how == "env":
            monkeypatch.setenv("ORDERFLOW_SERVER__RECORD_DIR", text)
            return load_settings(None)
        return load_settings(None, **parse_overrides([f"server.record_dir={text}"]))

    assert load("null").server.record_dir is None
    assert load("NULL").server.record_dir is None
    assert load("rec").server.record_dir == Path("rec")
    with pytest.raises(ConfigError, match=r"^setting server.record_dir: '' is an empty path"):
        load("")
