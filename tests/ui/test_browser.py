"""End to end in a real browser: Debian's Chromium, driven by Playwright, through every view.

It moves a slider and checks the face changed, clicks a point of the map and draws a lasso, uploads a
photo, reopens a link, and writes a screenshot per view into a temporary folder. It runs on the shipped
checkpoint (checkpoints/celeba64.pt, or one named by $EXPLORER_CHECKPOINT). To refresh the README's
pictures, name the folder: a plain test run never rewrites tracked files.

    EXPLORER_SCREENSHOTS=docs/screenshots python -m pytest -m browser tests/ui/test_browser.py
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
# The live decoder exposes its measurements (window.__vaeLive, __vaeLiveTiming) only to a page that sets this
# before it loads: the tests and the bench do, a user's page does not.
LIVE_STATS = "window.__vaeLiveStats = true"


def measured_page(browser, **kw):
    """browser.new_page(**kw) with the live decoder's measurements exposed."""
    page = browser.new_page(**kw)
    page.add_init_script(LIVE_STATS)
    return page
SHIPPED = ROOT / "checkpoints" / "celeba64.pt"

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(script: Path, *app_args: str, port: int | None = None, log: Path | None = None,
                     timeout: float = 60.0, env: dict | None = None):
    """Run ``streamlit run script -- app_args`` until the block ends; yields the base URL. The server
    (and only it) is stopped at the end, whatever happens inside the block."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer", "--", *app_args]
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}" + (f"; see {log}" if log else ""))
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


@contextmanager
def chromium_page(failure: Path | None = None, log: Path | None = None, height: int = 1000):
    """A page (1400 × ``height``) in Debian's Chromium, closed when the block ends. If the block fails, the
    page as it was is saved to ``failure`` and the server's ``log`` copied beside it (NAME-at-failure.log),
    so the report can be read after the temporary server is gone."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": height})
        try:
            yield page
        except Exception:
            if failure is not None:
                page.screenshot(path=failure)
            if log is not None:
                shutil.copy(log, log.with_name(log.stem + "-at-failure.log"))
            raise
        finally:
            browser.close()


def settle(page, timeout: float = 30_000) -> None:
    """Wait until the app has finished its run and every image has loaded; fail on a traceback."""
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')
                 && !document.querySelector('[data-stale="true"]')
                 && [...document.images].every(i => i.complete && i.naturalWidth > 0)""", timeout=timeout)
    page.wait_for_timeout(150)
    exc = page.locator("[data-testid=stException]")
    assert exc.count() == 0, exc.first.inner_text()


def open_face_map(page, url: str, timeout: float):
    """Open the map with faces on (faces=1) and wait until the sprite sheet has loaded and faces are drawn;
    the map's canvas locator. ``timeout`` (ms) covers decoding every face the first time."""
    page.goto(url + "/?view=map&faces=1")
    fm = page.locator(".facemap")
    fm.wait_for(timeout=timeout)
    fm.evaluate("el => new Promise(ok => { const t = () => el.dataset.sheet === 'loaded' && "
                "Number(el.dataset.shown) > 0 ? ok() : setTimeout(t, 50); t(); })")
    return fm


def main_images(page) -> list[str]:
    return page.eval_on_selector_all("[data-testid=stMain] [data-testid=stImage] img", "els => els.map(e => e.src)")


def wait_changed(page, selector: str, old: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); "
                           "return i && i.src !== old && i.complete && i.naturalWidth > 0; }", arg=[selector, old],
                           timeout=timeout)
    return page.eval_on_selector(selector, "e => e.src")


# The address bar's dims=D:V,... holds a slider value v (URLs store values rounded to 4 decimals).
URL_HAS_DIM_VALUE = """(v) => { const p = new URLSearchParams(location.search).get('dims');
  return !!p && p.split(',').some(kv => Math.abs(parseFloat(kv.split(':')[1]) - v) < 1e-3); }"""


# Pixel position of point i of trace t of the Plotly chart (so the test clicks a real point).
POINT_JS = """([t, i]) => { const gd = document.querySelector('.js-plotly-plot'); const fl = gd._fullLayout;
  const tr = gd._fullData[t]; const r = gd.getBoundingClientRect();
  return {x: r.left + fl.xaxis._offset + fl.xaxis.d2p(tr.x[i]), y: r.top + fl.yaxis._offset + fl.yaxis.d2p(tr.y[i]),
          row: Array.isArray(tr.customdata[i]) ? tr.customdata[i][0] : tr.customdata[i]}; }"""
STABLE_POINT_JS = f"""(arg) => {{ const gd = document.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData || gd._fullData.length <= arg[0]) return null;
  const p = ({POINT_JS})(arg); const key = JSON.stringify(p);
  const same = window.__lastPoint === key; window.__lastPoint = key; return same ? p : null; }}"""


def browser_checkpoint(tmp: Path) -> Path:
    """The checkpoint the browser tests open: $EXPLORER_CHECKPOINT, else the shipped one, else a tiny one
    made in ``tmp`` (a clone without checkpoints/)."""
    from test_app import make_checkpoint_file

    named = os.environ.get("EXPLORER_CHECKPOINT")
    if named or SHIPPED.exists():
        return Path(named) if named else SHIPPED
    return make_checkpoint_file(tmp / "tiny64.pt", n_rows=2000, latent_dim=32, image_size=64)


def screenshot_dir(tmp: Path) -> Path:
    """$EXPLORER_SCREENSHOTS (to refresh the README's pictures), else a folder in ``tmp``."""
    shots = Path(os.environ.get("EXPLORER_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    from conftest import celeba_sample_dir
    from test_app import _tiny_celeba

    data = celeba_sample_dir() or _tiny_celeba(tmp / "celeba")
    return browser_checkpoint(tmp), data, screenshot_dir(tmp), tmp


def test_every_view_in_chromium(setup):
    from playwright.sync_api import expect

    ckpt, data, shots, tmp = setup
    photo = sorted((Path(data) / "img_align_celeba").glob("*.jpg"))[-1]
    # EXPLORER_LIVE=0: this walk-through checks the server-side views (the fallback of the live
    # decoder); tests/ui/test_live.py drives the live sliders.
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), "--data-dir", str(data),
                          log=tmp / "server.log", env={"EXPLORER_LIVE": "0"}) as url, \
            chromium_page(failure=tmp / "failure.png", log=tmp / "server.log") as page:
        # 1. Sample: the grid; a new batch changes it and the URL
        page.goto(url)
        page.wait_for_selector("[data-testid=stMain] [data-testid=stImage] img", timeout=60_000)
        settle(page)
        grid = main_images(page)[0]
        page.get_by_role("button", name="New batch").click()
        grid2 = wait_changed(page, "[data-testid=stMain] [data-testid=stImage] img", grid)
        assert grid2 != grid
        # Streamlit writes the address bar after the new image arrives: wait for it, never read once
        expect(page).to_have_url(re.compile(r"[?&]seed=1(&|$)"))
        settle(page)
        page.screenshot(path=shots / "sample.png")

        # the sidebar's base face: the page opens on a dataset face (kept out of the URL, as a
        # default); a sample replaces it and goes into the URL; back to the dataset face, it leaves
        side = "[data-testid=stSidebar] [data-testid=stImage] img"
        base = page.eval_on_selector(side, "e => e.src")
        page.locator("[data-testid=stSidebar] label").filter(has_text="A sample").click()
        sampled = wait_changed(page, side, base)
        expect(page).to_have_url(re.compile(r"[?&]base=sample"))
        page.locator("[data-testid=stSidebar] label").filter(has_text="A dataset face").click()
        wait_changed(page, side, sampled)
        expect(page).not_to_have_url(re.compile(r"[?&]base="))

        # 2. Sliders: the keyboard moves the most informative dimension; the face changes
        page.get_by_role("tab", name="Latent sliders").click()
        face_sel = ".st-key-slider_face img"
        page.wait_for_selector(face_sel)
        settle(page)
        face = page.eval_on_selector(face_sel, "e => e.src")
        slider = page.locator(".st-key-top_sliders [data-testid=stSlider] input[type=range]").first
        slider.focus()
        for _ in range(20):
            page.keyboard.press("ArrowRight")
        wait_changed(page, face_sel, face)
        # the link must hold the slider's final value, not an intermediate one of the 20 key presses
        final = float(slider.input_value())
        assert final != 0.0
        expect(page).to_have_url(re.compile(r"[?&]view=sliders(&|$)"))
        page.wait_for_function(URL_HAS_DIM_VALUE, arg=final, timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "sliders.png")
        link, moved = page.url, page.eval_on_selector(face_sel, "e => e.src")

        # the link, opened in a fresh session, shows the same face (same pixels)
        other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        other.goto(link)
        other.wait_for_selector(face_sel, timeout=30_000)
        settle(other)
        again = other.eval_on_selector(face_sel, "e => e.src")
        assert page.request.get(again).body() == page.request.get(moved).body()
        other.close()

        # 3. Map: click a point, then a lasso
        page.get_by_role("tab", name="Map").click()
        page.wait_for_selector(".js-plotly-plot canvas", timeout=30_000)
        settle(page)
        # Plotly may lay the chart out again after Streamlit sizes it: take the point's position once
        # it has stayed the same over two polls
        pt = page.wait_for_function(STABLE_POINT_JS, arg=[1, 3], polling=250, timeout=30_000).json_value()
        page.mouse.move(pt["x"], pt["y"])
        page.mouse.click(pt["x"], pt["y"])
        page.get_by_text(f"row {pt['row']}:", exact=False).first.wait_for(timeout=30_000)
        settle(page)
        expect(page).to_have_url(re.compile(rf"[?&]point={pt['row']}(&|$)"))
        page.screenshot(path=shots / "map.png")
        page.locator(".js-plotly-plot .modebar-btn[data-title='Lasso Select']").click()
        box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 4
        page.mouse.move(cx - r, cy - r)
        page.mouse.down()
        for dx, dy in ((r, -r), (r, r), (-r, r), (-r, -r)):
            page.mouse.move(cx + dx, cy + dy, steps=6)
        page.mouse.up()
        page.get_by_text("selected encodings", exact=False).first.wait_for(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "map-lasso.png")

        # 4. Attribute arithmetic, opened from a link
        page.set_viewport_size({"width": 1400, "height": 1500})
        # a kind of hat (explorer.analysis.kinds): on the shipped model, kind 2 is the light caps (class gap 4.2);
        # row 62 stays typical with both edits (80th percentile), so the page has no warning
        page.goto(url + "/?view=arithmetic&edit=Smiling:2,Wearing_Hat.2:6&base=row:62")
        page.wait_for_selector("[data-testid=stDataFrame]", timeout=30_000)
        settle(page)
        assert page.locator("[data-testid=stAlertContentWarning]").count() == 0  # the link was valid
        assert len(main_images(page)) >= 5
        page.screenshot(path=shots / "arithmetic.png")
        page.set_viewport_size({"width": 1400, "height": 1000})

        # 5. Interpolation
        page.get_by_role("tab", name="Interpolation").click()
        page.get_by_text("slerp: |z|", exact=False).first.wait_for(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "interpolation.png")

        # 6. Reconstruction: an upload and the dataset faces
        page.get_by_role("tab", name="Reconstruction").click()
        page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(photo))
        # a CelebA face is found and aligned; the tiny random stand-in has none, and says so
        page.get_by_text(re.compile(rf"{re.escape(photo.name)}(, the face: model input|: no face found)")
                         ).first.wait_for(timeout=30_000)
        page.get_by_text("reconstructions (mean MSE", exact=False).first.wait_for(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "reconstruction.png")

        # 7. Diagnostics
        page.get_by_role("tab", name="Diagnostics").click()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
        settle(page)
        page.wait_for_timeout(500)
        page.screenshot(path=shots / "diagnostics.png")
        expect(page).to_have_url(re.compile(r"[?&]view=diagnostics(&|$)"))
    for name in ("sample", "sliders", "map", "map-lasso", "arithmetic", "interpolation", "reconstruction",
                 "diagnostics"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
