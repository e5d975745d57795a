""""Your own face" in Chromium: a photo with two real CelebA faces pasted into a scene is uploaded to the
Reconstruction view of the shipped model; the second face is chosen and used as the base face. Then a
photo without a face: the message, and its centre crop on request.

    EXPLORER_SCREENSHOTS=docs/screenshots python -m pytest -m browser tests/ui/test_browser_faces.py
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from test_browser import CHROMIUM, ROOT, SHIPPED, chromium_page, main_images, settle, streamlit_server  # noqa: E402
from test_faces import NO_SAMPLE, paste, sample_image, smooth_image, valid_names  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.realdata, NO_SAMPLE,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed"),
              pytest.mark.skipif(not SHIPPED.exists(), reason=f"{SHIPPED} is absent")]


def test_your_own_face_in_chromium(tmp_path):
    a, b = (sample_image(n) for n in valid_names(5)[3:5])
    photo = tmp_path / "two_people.jpg"
    paste((1200, 800), [(a, 400, (90, 170)), (b, 300, (760, 260))], seed=4).save(photo)
    wall = tmp_path / "wall.jpg"
    smooth_image(900, 600, seed=5).save(wall)
    shots = Path(os.environ.get("EXPLORER_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(SHIPPED), log=tmp_path / "server.log") as url, \
            chromium_page(failure=tmp_path / "failure.png") as page:
        page.goto(url + "/?view=reconstruct")
        page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(photo))
        page.get_by_text("2 faces in two_people.jpg, largest first").wait_for(timeout=60_000)
        page.get_by_text("face 1 of 2: model input", exact=False).wait_for(timeout=30_000)
        settle(page)
        before = main_images(page)
        page.locator("[data-testid=stMain] label").filter(has_text="Face 2").click()
        page.get_by_text("face 2 of 2: model input", exact=False).wait_for(timeout=30_000)
        settle(page)
        assert main_images(page)[1:] != before[1:]
        page.screenshot(path=shots / "faces.png", full_page=True)
        page.get_by_role("button", name="Use as base face").click()
        page.wait_for_function("() => location.search.includes('base=z')", timeout=30_000)

        # a photo without a face: the message, and the centre crop only when asked for
        page.locator(".st-key-recon_upload input[type=file]").set_input_files(str(wall))
        page.get_by_text("wall.jpg: no face found", exact=False).wait_for(timeout=60_000)
        page.get_by_text("Use the plain centre crop instead").last.click()
        page.get_by_text("wall.jpg, centre crop: model input", exact=False).wait_for(timeout=30_000)
        settle(page)
        page.locator("[data-testid=stAlertContentWarning]").scroll_into_view_if_needed()
        page.screenshot(path=shots / "faces-none.png")
    assert (shots / "faces.png").stat().st_size > 10_000 and (shots / "faces-none.png").stat().st_size > 10_000
