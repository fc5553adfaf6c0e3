"""Recipes run with stand-ins: a copy of ``scripts/`` and of the mini and iwslt22_ta recipes in a temporary
directory, with a ``hent-srt`` (and ``torchrun``) on PATH that only records its arguments, so no stage does real
work. Used by tests/test_recipe_options.py and tests/hostile/test_run_sh.py (through tests/conftest.py's
``recipes`` fixture)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$HENT_SRT_CALLS"
"""


def copy_recipes(root: Path) -> Path:
    """``root`` with scripts/, egs/mini and egs/iwslt22_ta (without data, exp, RESULTS.md) and bin/ holding the
    recording stand-ins."""
    shutil.copytree(REPO / "scripts", root / "scripts")
    for corpus in ("mini", "iwslt22_ta"):
        shutil.copytree(REPO / "egs" / corpus, root / "egs" / corpus,
                        ignore=shutil.ignore_patterns("data", "exp", "RESULTS.md"))
    (root / "bin").mkdir()
    for name in ("hent-srt", "torchrun"):
        stub = root / "bin" / name
        stub.write_text(RECORDER)
        stub.chmod(0o755)
    return root


def run(recipes: Path, corpus: str, *args: str) -> tuple[int, str, list[str]]:
    """(exit status, stderr, the recorded hent-srt calls) of egs/CORPUS/run.sh ARGS in the copy ``recipes``."""
    calls = recipes / "calls.txt"
    calls.unlink(missing_ok=True)
    env = dict(os.environ, PATH=f"{recipes / 'bin'}:{os.environ['PATH']}", HENT_SRT_CALLS=str(calls))
    done = subprocess.run(["bash", str(recipes / "egs" / corpus / "run.sh"), *args], capture_output=True, text=True,
                          env=env, timeout=120)
    recorded = calls.read_text().splitlines() if calls.exists() else []
    return done.returncode, done.stderr, recorded


def touch(root: Path, *paths: str) -> None:
    """Create each of ``paths`` under ``root`` (with its directories) as a one-line file."""
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
