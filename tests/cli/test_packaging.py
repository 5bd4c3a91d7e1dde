"""What ships: the image copies every package the distribution installs, and `make setup`
compiles them all."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _distributed_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*") for pattern in patterns}


def test_the_image_copies_every_installed_package() -> None:
    # `pip install .` in the image finds packages in what was copied: one left out installs
    # without error and fails at the first import (analytics and outbound once were)
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M))
    packages = _distributed_packages()
    assert packages <= copied, f"Dockerfile does not COPY {sorted(packages - copied)}"


def test_setup_compiles_every_installed_package() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    compiled = re.search(r"^PACKAGES\s*:=\s*(.+)$", makefile, re.M)
    assert compiled is not None, "Makefile has no PACKAGES list"
    assert _distributed_packages() <= set(compiled.group(1).split())
