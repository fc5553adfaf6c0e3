"""Build configuration that pyproject.toml cannot express: the presets ship inside the package.

The repository keeps its presets in the top-level ``recipes/`` directory; the wheel installs them as the package
data ``hent_srt/recipes/*.yaml`` so that ``hent_srt.config.presets_dir`` finds them through importlib.resources
in an installed copy. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["hent_srt", "hent_srt.*"]), "hent_srt.recipes"],
    package_dir={"hent_srt.recipes": "recipes"},
    package_data={"hent_srt.recipes": ["*.yaml"]},
)
