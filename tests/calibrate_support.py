"""Driving the calibration page (/static/calibrate/index.html?camera=<id>) from a browser test:
click a pixel of the frame, click a place on the map, wait for the console's preview."""

from __future__ import annotations

# Road marks of the shared highway clip's frames (1280x720): lane dashes and the yellow edge line.
SIZE = (1280, 720)
PIXELS = [(541, 562), (748, 596), (553, 447), (707, 466), (905, 520)]


def previews(page) -> int:
    return page.evaluate("() => window.zhizhiCalibrate.previews")


def wait_preview(page, before: int) -> None:
    page.wait_for_function(f"() => window.zhizhiCalibrate.previews > {before} && !window.zhizhiCalibrate.busy")


def click_frame(page, x: float, y: float) -> None:
    box = page.locator("#zk-overlay").bounding_box()
    page.mouse.click(box["x"] + x * box["width"] / SIZE[0], box["y"] + y * box["height"] / SIZE[1])


def click_map(page, lon: float, lat: float) -> None:
    """Zoom the map in on the place (as a user would) and click it."""
    point = page.evaluate(
        """([lat, lon]) => {
             const map = window.zhizhiCalibrate.map;
             map.setView([lat, lon], 19, {animate: false});
             const p = map.latLngToContainerPoint([lat, lon]);
             const r = map.getContainer().getBoundingClientRect();
             return [r.left + p.x, r.top + p.y];
           }""",
        [lat, lon],
    )
    page.mouse.click(*point)


def click_pairs(page, real) -> None:
    """Click the :data:`PIXELS` on the frame and, for each, the place ``real`` (the camera as it
    really hangs: a :class:`~zhizhi.video.calibration.Calibration`) puts it on the map."""
    for x, y in PIXELS:
        before = previews(page)
        click_frame(page, x, y)
        wait_preview(page, before)
        pending = page.evaluate("() => window.zhizhiCalibrate.pairs.at(-1)")
        lon, lat = (float(c) for c in real.pixel_to_lonlat(*pending["px"]))
        before = previews(page)
        click_map(page, lon, lat)
        wait_preview(page, before)
