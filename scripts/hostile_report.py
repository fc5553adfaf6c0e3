#!/usr/bin/env python3
"""Run the hostile-input suite (tests/hostile) and print its totals by class.

Every case of the suite is marked with the class of failure it guards against (``@pytest.mark.hostile(CLASS)``:
traceback, silent, data-loss, code-exec, message, files, packaging, training, concurrency); a case that fails
names the kind of failure it saw (a traceback for a user error, a silently wrong result, lost data, code run
from a file, a weak message, files left behind or with the wrong mode). The table has one row per class: the
cases, how many passed (the input was handled), and the failures by kind seen; then the cases that failed.

    scripts/hostile_report.py                      # run the suite, print the table
    scripts/hostile_report.py --json out.json      # also keep every case's class and outcome
    scripts/hostile_report.py --from out.json      # tabulate a kept run without running anything
    scripts/hostile_report.py -- -k decode         # extra pytest arguments after --

Exit status: 0 when every case passed, 1 when some failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("traceback", "silent", "data-loss", "code-exec", "message", "files", "packaging", "training",
           "concurrency")
FAILURE_KINDS = ("traceback", "silent", "data-loss", "code-exec", "message", "files", "untagged")


def run_suite(pytest_args: list[str]) -> tuple[dict[str, dict[str, str]], float]:
    """Run tests/hostile in a subprocess; return every case's {"class", "outcome"} and the wall time (s)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "hostile.json"
        env = dict(os.environ, HOSTILE_REPORT=str(target))
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "pytest", "tests/hostile", "-q", "-p", "no:cacheprovider",
                        *pytest_args], cwd=REPO, env=env, check=False)
        wall = time.monotonic() - started
        if not target.exists():
            raise SystemExit("hostile_report: the suite wrote no report (did it fail to collect?)")
        return json.loads(target.read_text())["cases"], wall


def table(cases: dict[str, dict[str, str]]) -> list[str]:
    """The rows of the totals by class (and a total row), as aligned text."""
    by_class: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for case in cases.values():
        by_class[case["class"]][case["outcome"]] += 1
    header = ["class", "cases", "passed", "skipped", "failed", *FAILURE_KINDS]
    rows = []
    total: collections.Counter = collections.Counter()
    for cls in (*CLASSES, *sorted(set(by_class) - set(CLASSES))):
        counts = by_class.get(cls)
        if not counts:
            continue
        total.update(counts)
        rows.append([cls, *_numbers(counts)])
    rows.append(["total", *_numbers(total)])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in [header, *rows]]


def _numbers(counts: collections.Counter) -> list[int]:
    failed = sum(counts[k] for k in FAILURE_KINDS)
    return [sum(counts.values()), counts["passed"], counts["skipped"], failed, *(counts[k] for k in FAILURE_KINDS)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write every case's class and outcome here")
    parser.add_argument("--from", dest="source", type=Path, help="tabulate this kept --json file; run nothing")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    wall = None
    if args.source is not None:
        try:
            cases = json.loads(args.source.read_text())["cases"]
        except (OSError, ValueError, KeyError) as err:
            print(f"hostile_report: --from {args.source}: cannot read a kept report ({err})", file=sys.stderr)
            return 2
    else:
        cases, wall = run_suite(args.pytest_args)
    if args.json is not None:
        args.json.write_text(json.dumps({"cases": cases}, indent=1, sort_keys=True) + "\n")
    print()
    print("\n".join(table(cases)))
    failing = sorted((nodeid, case) for nodeid, case in cases.items() if case["outcome"] not in ("passed", "skipped"))
    if failing:
        print("\nfailing cases:")
        for nodeid, case in failing:
            print(f"  [{case['outcome']}] ({case['class']}) {nodeid}")
    passed = sum(case["outcome"] == "passed" for case in cases.values())
    timing = f" in {wall:.0f} s wall" if wall is not None else ""
    print(f"\nhostile-input suite: {len(cases)} cases, {passed} passed, {len(failing)} failed{timing}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
