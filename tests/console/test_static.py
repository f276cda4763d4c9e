"""The console's pages as files (console/static/): ES modules over one shared lib/.

What a browser test would only find page by page: every page loads modules (the one classic
script is lib/boot.js, and Leaflet with its drawing plug-in), no page has an inline script or event handler attribute,
every import resolves to a file, the modules hand nothing to each other through ``window`` (the
only globals they set are the browser tests' hooks and boot.js's entry for the modules), and the
alert lifecycle is read from the API, never written in JS. eslint checks the code itself
(make lint).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "console" / "static"
PAGES = sorted(p for p in STATIC.rglob("*.html") if "vendor" not in p.parts)
MODULES = sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.parts)
CLASSIC_SCRIPTS = {"/static/lib/boot.js", "/static/vendor/leaflet/leaflet.js",
                   "/static/vendor/leaflet-geoman/leaflet-geoman.js"}  # a Leaflet plug-in (the wall's drawing)
#: window.NAME = ... : the browser tests' hooks, and the boot reporter's entry.
WINDOW_HOOKS = {"zhizhi", "zhizhiWall", "zhizhiAnalyst", "zhizhiBoot", "zhizhiCameras", "zhizhiCalibrate",
                "zhizhiJurisdictions", "zhizhiAlarm", "zhizhiProcedures", "zhizhiWalls",
                "zhizhiPlayback", "zhizhiTourEditor", "zhizhiPatrolLog"}

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL)
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;'"]*?\bfrom\s+["']([^"']+)["']""", re.MULTILINE)


def test_there_are_pages_and_modules():
    assert len(PAGES) >= 7 and len(MODULES) >= 20
    assert (STATIC / "lib" / "session.js").is_file() and not (STATIC / "map.js").exists()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(STATIC)))
def test_a_page_loads_modules_and_no_inline_script(page):
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"\son[a-z]+=", html), f"an inline event handler in {page.name}"
    scripts = SCRIPT.findall(html)
    assert scripts, "a page without a script"
    for attrs, body in scripts:
        assert not body.strip(), f"inline script in {page.name}"
        src = re.search(r'src="([^"]+)"', attrs).group(1)
        assert 'type="module"' in attrs or src in CLASSIC_SCRIPTS, src
        assert (STATIC / src.removeprefix("/static/")).is_file() or "/vendor/" in src, src


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(STATIC)))
def test_every_import_of_a_module_is_a_file(module):
    for target in IMPORT.findall(module.read_text(encoding="utf-8")):
        assert target.startswith("."), f"{module.name} imports {target!r}: relative paths only"
        assert (module.parent / target).resolve().is_file(), f"{module.name}: {target} missing"


def test_modules_hand_nothing_over_through_window():
    for module in MODULES:
        code = re.sub(r"/\*.*?\*/", "", module.read_text(encoding="utf-8"), flags=re.DOTALL)
        text = re.sub(r"(?m)^\s*//.*$", "", code)  # comments name the hooks
        for name in re.findall(r"\bwindow\.(\w+)\s*=[^=]", text):
            assert name in WINDOW_HOOKS, f"{module.name} sets window.{name}"
        if module.name != "boot.js":  # the hooks are written, never read
            assert not re.search(r"\bwindow\.(zhizhi|zhizhiWall|zhizhiAnalyst)\b(?!\s*=[^=])", text), module.name


def test_the_alert_lifecycle_is_read_from_the_api():
    from zhizhi.alerts.lifecycle import TRANSITIONS

    lifecycle = (STATIC / "wall" / "lifecycle.js").read_text(encoding="utf-8")
    assert "/api/alerts/lifecycle" in lifecycle
    # No module lists a status's targets (e.g. 'dispatched: ["on_scene", "resolved"]').
    for status, targets in TRANSITIONS.items():
        copy = re.compile(rf"""\b{status.value}["']?\s*:\s*\[\s*["']{targets[0].value}["']""")
        for module in MODULES:
            assert not copy.search(module.read_text(encoding="utf-8")), (module.name, status)
