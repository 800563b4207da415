"""Write tests/durations.json (seconds per test file) from the JUnit XML of a measured run:

    .venv/bin/python -m pytest -n 2 --dist loadfile --junitxml=/tmp/run.xml
    .venv/bin/python scripts/test_durations.py /tmp/run.xml [--top N]   (N heaviest, 40 by default)

tests/conftest.py starts the longest files first under xdist, so the two workers end together;
the figures only order the files (a stale or missing one costs balance, never a test). Keep the
heaviest few dozen files (``--top``): ordering every file longest first made a clean clone's
suite slower (both workers then start servers and subprocesses together and wait together).
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "durations.json"


def file_of(classname: str) -> str | None:
    """``tests.chaos.test_kill9`` (or ``...test_kill9.TestX``) -> ``tests/chaos/test_kill9.py``."""
    parts = classname.split(".")
    for n in range(len(parts), 0, -1):
        path = "/".join(parts[:n]) + ".py"
        if (ROOT / path).is_file():
            return path
    return None


def main(paths: list[str], top: int = 40) -> int:
    total: defaultdict[str, float] = defaultdict(float)
    for p in paths:
        for case in ET.parse(p).getroot().iter("testcase"):
            path = file_of(case.get("classname", ""))
            if path is not None:
                total[path] += float(case.get("time", "0") or 0)
    if not total:
        print("no test cases found", file=sys.stderr)
        return 1
    heaviest = sorted(((f, round(s, 1)) for f, s in total.items()), key=lambda x: -x[1])
    ranked = dict(heaviest[:top])
    OUT.write_text(json.dumps(ranked, indent=1) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(ranked)} files, {sum(ranked.values()):.0f} s in all")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="tests/durations.json from JUnit XML files")
    ap.add_argument("xml", nargs="+", help="JUnit XML of a measured run")
    ap.add_argument("--top", type=int, default=40, help="keep the N heaviest files (40)")
    a = ap.parse_args()
    sys.exit(main(a.xml, a.top))
