"""In Chromium, where the sliders decode live in the page: the traversal's animated GIF and MP4 download
from the view, and start at the face the page's own PNG download shows (the same z)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer import animation

from test_animation import N_FRAMES, gif_frames, mp4_frames, shrink  # noqa: E402
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, browser_checkpoint, measured_page, settle, streamlit_server  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]
STATS = "window.__vaeLive && window.__vaeLive.live_sliders"


def test_live_sliders_download_the_traversal_as_gif_and_mp4(tmp_path):
    from playwright.sync_api import sync_playwright

    ckpt = browser_checkpoint(tmp_path)
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp_path / "server.log") as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = measured_page(browser, viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            page.goto(url + "/?view=sliders&dim=12")
            # the live component's first face: this is the view that decodes in the page (an export on a
            # cold cache takes a while)
            page.wait_for_function(f"{STATS} && {STATS}.firstFace !== null", timeout=180_000)
            settle(page)

            def download(label: str) -> bytes:
                with page.expect_download(timeout=60_000) as d:
                    page.get_by_role("button", name=label).click()
                return Path(d.value.path()).read_bytes()

            strip = np.asarray(Image.open(io.BytesIO(download("Download traversal z12 PNG"))).convert("RGB"))
            size = (strip.shape[0]) // 4  # the strip is 7 faces at 4× size, 2×4 px apart
            first, last = shrink(strip[:, : size * 4]), shrink(strip[:, -size * 4:])
            gif, _ = gif_frames(download("Animated GIF"))
            mp4, _ = mp4_frames(download("Animated MP4"), tmp_path)
            for frames in (gif, mp4):
                assert len(frames) == N_FRAMES
                for got, want in ((frames[0], first), (frames[animation.STEPS - 1], last)):
                    assert np.abs(shrink(got).astype(int) - want.astype(int)).mean() < 4
        except Exception:
            page.screenshot(path=tmp_path / "failure.png")
            raise
        finally:
            browser.close()
