"""The dashboard's vendored browser libraries: every file under ``static/vendor/`` is the one
recorded in ``vendor/MANIFEST.json`` (SHA-256, package, pinned version, licence), the manifest
agrees with the pins of ``scripts/vendor_web.py``, each package keeps its licence (and
lightweight-charts its NOTICE), and the page keeps TradingView's attribution on."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import PROJECT_ROOT

WEB = PROJECT_ROOT / "src" / "orderflow" / "web"
VENDOR = WEB / "static" / "vendor"


def manifest() -> dict[str, dict[str, str]]:
    return json.loads((VENDOR / "MANIFEST.json").read_text())["files"]  # type: ignore[no-any-return]


def vendor_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "vendor_web", PROJECT_ROOT / "scripts" / "vendor_web.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vendor_web"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_every_vendored_file_matches_the_manifest() -> None:
    entries = manifest()
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert on_disk - {"MANIFEST.json"} == set(entries)
    for name, entry in entries.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{name}: changed since it was vendored"


def test_the_manifest_agrees_with_the_pinned_packages() -> None:
    mod = vendor_script()
    entries = manifest()
    for pkg in mod.PACKAGES:
        names = {f"{pkg.folder}/{n}" for n in pkg.files.values()}
        if pkg.notice is not None:
            names.add(f"{pkg.folder}/NOTICE")
        assert {n for n in entries if n.startswith(pkg.folder + "/")} == names
        for n in names:
            assert (entries[n]["package"], entries[n]["version"], entries[n]["licence"]) == (
                pkg.name, pkg.version, pkg.licence)  # fmt: skip
        assert f"{pkg.folder}/LICENSE" in names
    assert mod.check() == []


def test_a_changed_vendored_file_is_caught(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    mod = vendor_script()
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR, copy)
    monkeypatch.setattr(mod, "VENDOR", copy)
    monkeypatch.setattr(mod, "MANIFEST", copy / "MANIFEST.json")
    assert mod.check() == []
    (copy / "uplot" / "uPlot.esm.js").write_bytes(b"export default 1;\n")
    (copy / "uplot" / "extra.js").write_text("x")
    (copy / "lightweight-charts" / "NOTICE").unlink()
    assert mod.check() == [
        "uplot/extra.js: in vendor/ but not in MANIFEST.json",
        "lightweight-charts/NOTICE: in MANIFEST.json but missing",
        "uplot/uPlot.esm.js: sha256 differs from MANIFEST.json",
    ]


def test_licences_and_the_attribution_are_kept() -> None:
    lwc = VENDOR / "lightweight-charts"
    assert "Apache License" in (lwc / "LICENSE").read_text()
    assert "TradingView" in (lwc / "NOTICE").read_text()
    assert "MIT License" in (VENDOR / "uplot" / "LICENSE").read_text()
    # the chart shows TradingView's logo (the link its licence notice asks for)
    assert "attributionLogo: true" in (WEB / "static" / "candles.js").read_text()
    assert "attributionLogo: false" not in "".join(
        p.read_text() for p in (WEB / "static").glob("*.js")
    )
