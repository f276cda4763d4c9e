"""Installing zhizhi adds one top-level name, `zhizhi`, and every part's folder is in the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("gis", "layers", "video", "telemetry", "models", "alerts", "bus", "console", "bench")


def _folder_packages() -> set[str]:
    found: set[str] = set()
    for part in PARTS:
        for init in (ROOT / part).rglob("__init__.py"):
            if "node_modules" in init.parts:
                continue
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(("zhizhi", *rel)))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert set(config["packages"]) == _folder_packages()
    assert {f"zhizhi.{part}": part for part in PARTS if (ROOT / part).is_dir()}.items() <= config["package-dir"].items()


def test_the_wheel_adds_exactly_one_top_level_name(tmp_path):
    # Build from a copy, so setuptools' build/ and egg-info never land in the working tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "var", "tests", "docs"))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("zhizhi-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {name for name in top if not name.endswith(".dist-info")} == {"zhizhi"}
    assert "zhizhi/gis/grid_index.py" in names
    assert "zhizhi/layers/migrations/env.py" in names
    assert any(name.startswith("zhizhi/console/static/") for name in names)
    assert any(name.startswith("zhizhi/models/detector/weights/") for name in names)
    assert not any("node_modules" in name or "__pycache__" in name for name in names)
