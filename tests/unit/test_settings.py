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
