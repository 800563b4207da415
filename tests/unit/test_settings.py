from pathlib import Path

import pytest

from orderflow.core.errors import ConfigError
from orderflow.settings import PROJECT_ROOT, load_settings


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
