"""The compare view and the faces on the map, in Chromium (see test_browser.py for the set-up).

On the shipped checkpoint, or $EXPLORER_CHECKPOINT; $EXPLORER_COMPARE names a second checkpoint for the
compare view (given on the command line, it becomes model A). Screenshots go to $EXPLORER_SCREENSHOTS:

    EXPLORER_SCREENSHOTS=docs/screenshots python -m pytest -m browser tests/ui/test_browser_views.py
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from test_browser import (CHROMIUM, ROOT, browser_checkpoint, chromium_page, open_face_map, screenshot_dir, settle,
                          streamlit_server)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]

# The face map's state object, inside the component's shadow root (Playwright's CSS engine pierces it).
STATS = "el => ({draws: el.__facemap.stats.draws, shown: el.__facemap.stats.shown, hover: el.dataset.hover || ''})"
POINT = """(el, i) => { const m = el.__facemap; const r = m.canvas.getBoundingClientRect();
  const [x, y] = [m.px[2 * i], m.px[2 * i + 1]]; return {x: r.left + x, y: r.top + y}; }"""
# a point near the middle of the canvas, with no other point within 8 pixels (so hover finds exactly it)
LONE = """el => { const m = el.__facemap, n = m.data.x.length, W = m.width, H = m.height;
  for (let i = 0; i < n; i++) { const x = m.px[2 * i], y = m.px[2 * i + 1];
    if (x < W / 4 || x > 3 * W / 4 || y < H / 4 || y > 3 * H / 4) continue;
    let alone = true;
    for (let j = 0; j < n && alone; j++) if (j !== i && Math.hypot(m.px[2 * j] - x, m.px[2 * j + 1] - y) < 9) alone = false;
    if (alone) return i; }
  return -1; }"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_views")
    return browser_checkpoint(tmp), screenshot_dir(tmp), tmp


def test_faces_on_the_map_hover_zoom_and_click(setup):
    ckpt, shots, tmp = setup
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp / "server.log") as url, \
            chromium_page(failure=tmp / "failure.png", log=tmp / "server.log") as page:
        # decoding every face takes minutes on a busy 2-core machine the first time (then the disk cache)
        fm = open_face_map(page, url, 600_000)
        settle(page, 60_000)
        before = fm.evaluate(STATS)
        assert before["shown"] >= 20  # faces drawn at their points
        page.screenshot(path=shots / "map-faces.png")

        # hover: the face under the pointer appears without a click
        i = fm.evaluate(LONE)
        assert i >= 0
        pt = fm.evaluate(POINT, i)
        page.mouse.move(pt["x"], pt["y"])
        page.wait_for_function("([el, i]) => el.dataset.hover === String(i)", arg=[fm.element_handle(), i])
        tip = page.locator(".facemap .tip")
        assert tip.is_visible() and tip.inner_text() == f"row {i}"
        page.screenshot(path=shots / "map-faces-hover.png")

        # zoom in around that point: more faces fit, the page redraws without the server
        for _ in range(6):
            page.mouse.wheel(0, -240)
        page.wait_for_function("([el, n]) => el.__facemap.stats.draws > n && el.__facemap.input === null",
                               arg=[fm.element_handle(), before["draws"]])
        zoomed = fm.evaluate(STATS)
        assert zoomed["shown"] > 0
        page.screenshot(path=shots / "map-faces-zoomed.png")

        # click: the row becomes the map's chosen point, in the detail column and the URL
        pt = fm.evaluate(POINT, i)
        page.mouse.move(pt["x"], pt["y"])
        page.mouse.click(pt["x"], pt["y"])
        page.get_by_text(f"row {i}:", exact=False).first.wait_for(timeout=30_000)
        page.wait_for_function("i => location.search.includes('point=' + i)", arg=i)
        assert "faces=1" in page.url


def test_compare_view(setup):
    ckpt, shots, tmp = setup
    other = os.environ.get("EXPLORER_COMPARE")
    args = ("--checkpoint", other) if other else ("--checkpoint", str(ckpt))
    with streamlit_server(ROOT / "app.py", *args, log=tmp / "server-compare.log") as url, \
            chromium_page(failure=tmp / "failure-compare.png", height=2100) as page:
        page.goto(url + "/?view=compare&cmpattr=Eyeglasses&cmpw=1.5")
        page.wait_for_selector("[data-testid=stDataFrame]", timeout=120_000)
        page.get_by_text("top: A, bottom: B", exact=False).nth(1).wait_for(timeout=60_000)
        settle(page, 60_000)
        assert page.locator("[data-testid=stAlertContentWarning]").count() == 0  # the link was valid
        assert len(page.locator("[data-testid=stMain] [data-testid=stImage] img").all()) == 2
        assert "cmpattr=Eyeglasses" in page.url and "cmpw=1.5" in page.url
        page.screenshot(path=shots / "compare.png", full_page=True)
