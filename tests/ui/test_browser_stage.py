"""Stage mode in Chromium at a projector's 1280×720: one big face above the fold, no sidebar, and the keyboard
(arrows choose and move a dimension, space plays its traversal, Esc leaves). Writes stage.png (and
stage-playing.png) into the screenshot folder (see test_browser.py)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_browser import (CHROMIUM, CHROMIUM_ARGS, ROOT, browser_checkpoint, screenshot_dir,  # noqa: E402
                          settle, streamlit_server)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]

W, H = 1280, 720


def wait_stage(stage, condition: str, arg=None, timeout: float = 30_000) -> None:
    """Wait until ``condition`` (a JS expression of ``d``, the stage's dataset, and ``arg``) holds. The
    component lives in a shadow root, which document.querySelector does not see: poll through its locator."""
    stage.evaluate("""(el, [cond, arg, timeout]) => new Promise((ok, fail) => {
        const f = new Function('d', 'arg', 'return (' + cond + ');'), t0 = performance.now();
        const tick = () => {
          if (f(el.dataset, arg)) ok();
          else if (performance.now() - t0 > timeout)
            fail(new Error('timed out waiting for ' + cond + ' with ' + JSON.stringify({...el.dataset})));
          else setTimeout(tick, 20);
        };
        tick(); })""", [condition, arg, timeout])


def _dims(page) -> dict:
    p = page.evaluate("() => new URLSearchParams(location.search).get('dims')") or ""
    return {int(k): float(v) for k, v in (kv.split(":") for kv in p.split(",") if kv)}


def test_stage_mode_at_1280x720_with_the_keyboard(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ckpt, shots = browser_checkpoint(tmp_path), screenshot_dir(tmp_path)
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp_path / "server.log") as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": W, "height": H})
        try:
            page.goto(url + "/?stage=1")
            stage = page.locator(".stage")
            stage.wait_for(timeout=60_000)
            settle(page)
            # one big face, wholly above the fold; no sidebar and no tabs
            box = page.locator(".stage-face").bounding_box()
            assert box["width"] >= 400 and box["y"] >= 0 and box["y"] + box["height"] <= H, box
            assert not page.locator("[data-testid=stSidebar]").is_visible()
            assert page.locator("[data-testid=stTab]").count() == 0
            rows = page.locator(".stage-row")
            assert rows.count() == 8
            last = rows.nth(7).bounding_box()
            assert last["y"] + last["height"] <= H and last["height"] >= 44  # large controls, all in view
            page.screenshot(path=shots / "stage.png")

            first = stage.get_attribute("data-selected")
            page.keyboard.press("ArrowDown")  # choose the second dimension: it becomes the URL's dim
            second = stage.get_attribute("data-selected")
            assert second != first
            expect(page).to_have_url(re.compile(rf"[?&]dim={second}(&|$)"))
            face = stage.get_attribute("data-face")
            start = float(stage.get_attribute("data-value"))
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")  # two steps of 0.25, shown at once, then decoded
            assert abs(float(stage.get_attribute("data-value")) - (start + 0.5)) < 1e-6
            wait_stage(stage, "d.face !== arg[0] && Number(d.applied) >= arg[1]",
                       [face, int(stage.get_attribute("data-seq"))])
            page.wait_for_function("([d, v]) => { const p = new URLSearchParams(location.search).get('dims') || '';"
                                   " return p.split(',').some(kv => kv.split(':')[0] === d && "
                                   "Math.abs(parseFloat(kv.split(':')[1]) - v) < 1e-3); }",
                                   arg=[second, start + 0.5], timeout=30_000)
            assert abs(_dims(page)[int(second)] - (start + 0.5)) < 1e-3

            page.keyboard.press(" ")  # space plays the traversal here, frame after frame
            # the frames shown while it plays: six different ones within a few seconds
            wait_stage(stage, "d.playing === '1' && (window.__seen = (window.__seen || new Set()).add(d.frame)).size >= 6",
                       timeout=10_000)
            page.screenshot(path=shots / "stage-playing.png")
            page.keyboard.press(" ")
            assert stage.get_attribute("data-playing") == "0"
            page.keyboard.press("PageDown")  # a presenter's clicker: one step on, one step back
            assert abs(float(stage.get_attribute("data-value")) - (start + 0.75)) < 1e-6
            page.keyboard.press("PageUp")
            assert abs(float(stage.get_attribute("data-value")) - (start + 0.5)) < 1e-6
            wait_stage(stage, "Number(d.applied) >= arg", int(stage.get_attribute("data-seq")))

            page.keyboard.press("Escape")  # back to the tabs, on the same face
            page.locator("[data-testid=stTab]").first.wait_for(timeout=30_000)
            expect(page).not_to_have_url(re.compile(r"[?&]stage="))
            assert abs(_dims(page)[int(second)] - (start + 0.5)) < 1e-3
            page.get_by_role("button", name="Stage mode").click()  # and in again from the sidebar
            stage.wait_for(timeout=30_000)
            expect(page).to_have_url(re.compile(r"[?&]stage=1(&|$)"))
        except Exception:
            page.screenshot(path=tmp_path / "failure.png")
            print(json.dumps({"log": (tmp_path / "server.log").read_text()[-3000:]}))
            raise
        finally:
            browser.close()
