"""Refresh the dashboard's third-party browser files from the npm registry.

    python scripts/vendor_web.py            # fetch the pinned versions, rewrite vendor/
    python scripts/vendor_web.py --check    # verify vendor/ against MANIFEST.json only

The page has no Node build step: the files it imports are committed under
``src/orderflow/web/static/vendor/<name>/`` with their licence (and notice) beside them, and
``vendor/MANIFEST.json`` records each file's SHA-256, the package, its version and licence.
``tests/unit/web/test_vendor.py`` checks every vendored file against that manifest.

The packages come by name and pinned version through npm's own client (``npm pack``); no other
download happens. To move to a new version, change :data:`PACKAGES`, run this script, look at
the page, commit the result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "orderflow" / "web" / "static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"


@dataclass(frozen=True)
class Package:
    name: str  # npm package name
    version: str  # pinned
    licence: str  # SPDX id, checked against the package's package.json
    folder: str  # under vendor/
    files: dict[str, str]  # path inside the tarball's package/ -> name under vendor/<folder>/
    notice: str | None = None  # a NOTICE to write beside the licence (not shipped in the tarball)


PACKAGES = (
    Package(
        name="lightweight-charts",
        version="5.3.0",
        licence="Apache-2.0",
        folder="lightweight-charts",
        files={
            "dist/lightweight-charts.standalone.production.mjs": (
                "lightweight-charts.standalone.production.mjs"
            ),
            "LICENSE": "LICENSE",
        },
        # the project's NOTICE (the npm tarball leaves it out); its README asks users to show
        # this attribution and a link to TradingView: the page keeps `attributionLogo` on
        notice=(
            "TradingView Lightweight Charts\n"
            "Copyright (c) 2025 TradingView, Inc. https://www.tradingview.com/\n"
        ),
    ),
    Package(
        name="uplot",
        version="1.6.32",
        licence="MIT",
        folder="uplot",
        files={
            "dist/uPlot.esm.js": "uPlot.esm.js",
            "dist/uPlot.min.css": "uPlot.min.css",
            "LICENSE": "LICENSE",
        },
    ),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fetch(pkg: Package, work: Path) -> Path:
    """``npm pack NAME@VERSION`` into ``work``; the extracted ``package/`` folder."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_web.py: npm is not on PATH (apt-get install npm)")
    spec = f"{pkg.name}@{pkg.version}"
    out = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(work)],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"vendor_web.py: npm pack {spec} failed: {out.stderr.strip()[-400:]}")
    tarball = work / json.loads(out.stdout)[0]["filename"]
    dest = work / pkg.folder
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    root = dest / "package"
    meta = json.loads((root / "package.json").read_text())
    if meta.get("version") != pkg.version or meta.get("license") != pkg.licence:
        sys.exit(
            f"vendor_web.py: {spec}: package.json says version {meta.get('version')!r}, "
            f"licence {meta.get('license')!r}; expected {pkg.version!r}, {pkg.licence!r}"
        )
    return root


def refresh() -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in PACKAGES:
            root = _fetch(pkg, Path(tmp))
            folder = VENDOR / pkg.folder
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            for src, name in pkg.files.items():
                shutil.copyfile(root / src, folder / name)
            if pkg.notice is not None:
                (folder / "NOTICE").write_text(pkg.notice)
            for path in sorted(folder.iterdir()):
                entries[f"{pkg.folder}/{path.name}"] = {
                    "sha256": sha256(path),
                    "package": pkg.name,
                    "version": pkg.version,
                    "licence": pkg.licence,
                }
    MANIFEST.write_text(json.dumps({"files": entries}, indent=2, sort_keys=True) + "\n")
    return entries


def check() -> list[str]:
    """Every difference between vendor/ and the manifest, one line each (empty: all good)."""
    entries = json.loads(MANIFEST.read_text())["files"]
    problems = []
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()} - {
        "MANIFEST.json"
    }
    for name in sorted(on_disk - set(entries)):
        problems.append(f"{name}: in vendor/ but not in MANIFEST.json")
    for name, entry in sorted(entries.items()):
        path = VENDOR / name
        if not path.is_file():
            problems.append(f"{name}: in MANIFEST.json but missing")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{name}: sha256 differs from MANIFEST.json")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="verify only, fetch nothing")
    args = ap.parse_args()
    if not args.check:
        for name, entry in refresh().items():
            print(f"{entry['sha256'][:12]}  {name}  ({entry['package']} {entry['version']})")
    problems = check()
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
