"""A wheel works outside the source tree: it carries the presets and the LICENSE.

Builds the wheel from a copy of the sources, installs it without dependencies into a fresh venv that sees this
venv's packages (torch and the rest, through a ``.pth`` line, so nothing is downloaded) and runs the installed
``hent-srt`` from a directory outside any checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from hent_srt.config import dump_config, load_config

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.packaging


def _run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the installed copy's bin directory, the wheel)."""
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for name in ("hent_srt", "recipes"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", root / "dist", src, cwd=root)
    (wheel,) = (root / "dist").glob("hent_srt-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel,
         cwd=root)
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).stdout.strip()
    (Path(site) / "hent_srt_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin", wheel


def test_wheel_carries_every_preset_and_the_license(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    presets = sorted(p.name for p in (REPO / "recipes").glob("*.yaml"))
    assert presets and all(f"hent_srt/recipes/{name}" in names for name in presets)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not any(name.startswith("recipes/") for name in names)  # no top-level package named recipes


def test_installed_copy_shows_a_preset_outside_the_source_tree(installed, tmp_path):
    bin_dir, _ = installed
    where = _run(bin_dir / "python", "-c", "import hent_srt.config as c; print(c.__file__); print(c.presets_dir())",
                 cwd=tmp_path).stdout.split()
    assert all(not Path(p).resolve().is_relative_to(REPO) for p in where), where
    assert Path(where[1]).name == "recipes" and Path(where[1]).parent == Path(where[0]).parent
    shown = _run(bin_dir / "hent-srt", "config", "show", "hent_srt", cwd=tmp_path).stdout
    assert shown == dump_config(load_config("hent_srt"))


def test_installed_copy_resolves_base_presets_of_a_recipe_conf(installed, tmp_path):
    bin_dir, _ = installed
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy2(REPO / "egs" / "mini" / "conf" / "hent_srt.yaml", conf / "hent_srt.yaml")
    shown = _run(bin_dir / "hent-srt", "config", "show", "conf/hent_srt.yaml", "--set", "optim.base_lr=1e-3",
                 cwd=tmp_path).stdout
    expected = load_config(REPO / "egs" / "mini" / "conf" / "hent_srt.yaml", ["optim.base_lr=1e-3"])
    assert shown == dump_config(expected)
