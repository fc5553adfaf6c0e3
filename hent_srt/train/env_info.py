"""What an experiment directory records about the run: resolved config, git commit, package versions.

``write_experiment_info(exp_dir, config, command_line, seed)`` writes ``exp_dir/config.yaml`` (the resolved
configuration, loadable with ``hent-srt train --config exp_dir/config.yaml``) and ``exp_dir/env.json``
(git commit of the hent-srt source tree and whether it had local changes, versions of the packages that shape
the numbers, Python and platform, the CPU (model name, the instruction set torch's kernels dispatch to, logical
cores: a CPU run repeats bit for bit only on the same kind of CPU at the same thread count), the command line, the
seed, the number of processes and devices). Both are written to a temporary name and renamed into place.

A run resumed in the same directory (or a later training into it) writes env.json again for itself and keeps what
the earlier one recorded under ``earlier_runs`` (oldest first), so a run whose parts ran on different machines says
so; an earlier env.json that is not a JSON object is kept there as its text (``{"unreadable_env_json": TEXT}``).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hent_srt.config import Config, dump_config
from hent_srt.fileio import write_text_atomic

__all__ = [
    "PACKAGES",
    "collect_env",
    "cpu_info",
    "cpu_model_name",
    "env_records",
    "git_commit",
    "package_versions",
    "write_experiment_info",
]

# Distributions whose versions can change results.
PACKAGES: tuple[str, ...] = ("hent-srt", "torch", "lhotse", "sentencepiece", "sacrebleu", "numpy", "k2")

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit(path: str | Path = SOURCE_ROOT) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` for the git work tree holding ``path``."""
    cwd = Path(path)
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution in ``names`` (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The first ``model name`` entry of ``cpuinfo`` (Linux); else ``platform.processor()``, None when empty."""
    try:
        lines = Path(cpuinfo).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or None


def cpu_info() -> dict[str, Any]:
    """``{"model": name or None, "capability": torch's kernel instruction set, "logical_cores": int or None}``.

    ``capability`` is ``torch.backends.cpu.get_cpu_capability()`` ("AVX512", "AVX2", "DEFAULT", ...): two CPUs
    that dispatch to different kernels need not give the same floating-point results.
    """
    return {
        "model": cpu_model_name(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "logical_cores": os.cpu_count(),
    }


def collect_env(command_line: Sequence[str], seed: int, world_size: int = 1) -> dict[str, Any]:
    """Everything ``env.json`` records (see the module docstring)."""
    cuda = torch.cuda.is_available()
    return {
        "git": git_commit(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_info(),
        "command_line": list(command_line),
        "seed": seed,
        "world_size": world_size,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "torch_num_threads": torch.get_num_threads(),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def env_records(env_path: str | Path) -> list[dict[str, Any]]:
    """Every run record an ``env.json`` holds, oldest first: its ``earlier_runs``, then its own record without them;
    ``[]`` when the file does not exist, ``[{"unreadable_env_json": TEXT}]`` when it is not a JSON object. The
    records a new run keeps as its ``earlier_runs``, and what the study reads to name the machines of a run."""
    env_path = Path(env_path)
    if not env_path.is_file():
        return []
    text = env_path.read_bytes().decode("utf-8", errors="replace")
    try:
        previous = json.loads(text)
    except json.JSONDecodeError:
        previous = None
    if not isinstance(previous, dict):
        return [{"unreadable_env_json": text}]
    runs = previous.pop("earlier_runs", [])
    return [*(runs if isinstance(runs, list) else [{"unreadable_earlier_runs": runs}]), previous]


def write_experiment_info(
    exp_dir: str | Path,
    config: Config,
    command_line: Sequence[str],
    world_size: int = 1,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``config.yaml`` and ``env.json`` (plus the ``extra`` entries, and the ``earlier_runs`` of an earlier
    env.json there) into ``exp_dir``; returns the latter."""
    exp_dir = Path(exp_dir)
    env = collect_env(command_line, seed=config.train.seed, world_size=world_size)
    env.update(extra or {})
    env["earlier_runs"] = env_records(exp_dir / "env.json")
    write_text_atomic(exp_dir / "config.yaml", dump_config(config))
    write_text_atomic(exp_dir / "env.json", json.dumps(env, indent=2, sort_keys=True) + "\n")
    return env
