"""The direction of imports between the parts (docs/architecture.md, "Layers") holds.

``make lint`` runs the same check first; this test makes a layering break fail the suite when
pytest runs on its own too.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONFIG = PYPROJECT["tool"]["importlinter"]
LAYERS = [
    "zhizhi.bench",
    "zhizhi.console",
    "zhizhi.alerts",
    "zhizhi.models",
    "zhizhi.telemetry | zhizhi.video",
    "zhizhi.layers",
    "zhizhi.gis",
]


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_layers_contract_is_kept():
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_the_contract_is_the_documented_order_and_covers_every_part():
    contracts = {c["type"]: c for c in CONFIG["contracts"]}
    assert contracts["layers"]["layers"] == LAYERS
    assert contracts["forbidden"]["source_modules"] == ["zhizhi.bus"]
    parts = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert {r.removeprefix("zhizhi.") for r in CONFIG["root_packages"]} == parts
    layered = {name.strip() for layer in LAYERS for name in layer.split("|")}
    assert layered | {"zhizhi.bus"} == set(CONFIG["root_packages"])
    assert set(contracts["forbidden"]["forbidden_modules"]) == layered


def test_an_upward_import_is_reported(tmp_path):
    """The check is not vacuous: with gis put above layers (which imports gis), it fails and
    names the import."""
    upside_down = [*LAYERS[:-2], "zhizhi.gis", "zhizhi.layers"]
    config = tmp_path / "upside_down.toml"
    roots = ", ".join(f'"{r}"' for r in CONFIG["root_packages"])
    layers = ", ".join(f'"{layer}"' for layer in upside_down)
    config.write_text(
        f"[tool.importlinter]\nroot_packages = [{roots}]\n\n"
        '[[tool.importlinter.contracts]]\nname = "upside down"\ntype = "layers"\n'
        f"layers = [{layers}]\n",
        encoding="utf-8",
    )
    done = lint_imports("--config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "zhizhi.layers is not allowed to import zhizhi.gis" in done.stdout
