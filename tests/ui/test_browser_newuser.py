"""What tripped a new user (issue 29), checked in Chromium as the user met it: a 1280×720 projector, typing an
attribute and pressing Enter, the typicality line beside a live face while a slider is dragged.

On the shipped checkpoint (or $EXPLORER_CHECKPOINT; see test_browser.py). Screenshots go to $EXPLORER_SCREENSHOTS:

    EXPLORER_SCREENSHOTS=/tmp/shots python -m pytest -m browser tests/ui/test_browser_newuser.py
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from test_browser import (CHROMIUM, CHROMIUM_ARGS, ROOT, measured_page, browser_checkpoint, screenshot_dir, settle,
                          streamlit_server)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]

W, H = 1280, 720  # a projector
# the tab bar and its tabs: their boxes in the page
TABS = """() => {
  const bar = document.querySelector('[data-testid=stTabs] [role=tablist]');
  const b = bar.getBoundingClientRect();
  const tabs = [...bar.querySelectorAll('[role=tab]')].map(t => { const r = t.getBoundingClientRect();
    return {label: t.innerText, left: r.left, right: r.right}; });
  return {bar: {left: b.left, right: b.right, scroll: bar.scrollWidth, client: bar.clientWidth}, tabs};
}"""
# the open tab's main face: the live decoder's canvas (inside the component's shadow root, which Playwright's
# CSS engine pierces), else its first image, else the map's chart
PANEL = "[role=tabpanel]:not([hidden])"
FACES = (f"{PANEL} canvas.main", f"{PANEL} [data-testid=stImage] img", f"{PANEL} .js-plotly-plot")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_newuser")
    return browser_checkpoint(tmp), screenshot_dir(tmp), tmp


@pytest.fixture(scope="module")
def server(setup):
    ckpt, _, tmp = setup
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp / "server.log") as url:
        yield url


@pytest.fixture
def page(setup):
    from playwright.sync_api import sync_playwright

    _, shots, tmp = setup
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = measured_page(browser, viewport={"width": W, "height": H})
        try:
            yield pg
        except Exception:
            pg.screenshot(path=shots / "newuser-failure.png")
            raise
        finally:
            browser.close()


def query(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


@pytest.mark.parametrize("view", ["sample", "sliders", "arithmetic", "interpolate", "map"])
def test_at_1280x720_every_tab_is_visible_and_the_face_is_above_the_fold(server, page, setup, view):
    shots = setup[1]
    page.goto(f"{server}/?view={view}")
    page.locator(", ".join(FACES)).first.wait_for(timeout=120_000)
    settle(page, 60_000)
    if view in ("sliders", "arithmetic"):  # live views: their face is drawn in the page, once the decoder runs
        page.locator(FACES[0]).first.wait_for(timeout=300_000)
    got = page.evaluate(TABS)
    # the live views' face is their canvas; the interpolation's are its two strips (its live scrubber comes after)
    order = FACES if view in ("sliders", "arithmetic") else FACES[1:]
    face = next(page.locator(sel).first.bounding_box() for sel in order if page.locator(sel).count())
    page.screenshot(path=shots / f"newuser-1280x720-{view}.png")
    bar = got["bar"]
    assert bar["scroll"] <= bar["client"], got  # no tab hidden behind the bar's scroll arrow
    assert len(got["tabs"]) == 10
    for t in got["tabs"]:
        assert bar["left"] - 1 <= t["left"] and t["right"] <= bar["right"] + 1 and t["right"] <= W, t
    assert face["height"] > 0
    # the face or grid whole above the fold; the map's chart at least half in view
    bottom = face["y"] + (face["height"] / 2 if view == "map" else face["height"])
    assert bottom <= H, (view, face)


def test_enter_adds_the_one_attribute_typed_and_take_away_is_as_direct(server, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": W, "height": 1000})
    page.goto(f"{server}/?view=arithmetic")
    for key, typed, sign, want in (("arith_attrs", "Eyeglasses", "", ["Eyeglasses"]),
                                   ("arith_minus", "Smiling", "-", ["Eyeglasses", "Smiling"])):
        box = page.locator(f".st-key-{key} input")
        box.wait_for(timeout=120_000)
        settle(page, 60_000)
        box.click()
        box.type(typed)
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        expect(page).to_have_url(re.compile(rf"[?&]edit=[^&]*{typed}%3A{sign}"), timeout=30_000)
        settle(page, 60_000)
        items = query(page)["edit"].split(",")
        assert [i.split(":")[0] for i in items] == want  # the one name typed: not Eyeglasses and its kinds
    weights = [float(i.split(":")[1]) for i in items]
    assert weights[0] > 0 > weights[1]
    # the chips wrap onto more rows: with seven attributes added, none is scrolled out of sight sideways
    many = ["Smiling", "Male", "Blond_Hair", "Eyeglasses", "Wearing_Hat", "Mustache", "Heavy_Makeup"]
    page.goto(f"{server}/?view=arithmetic&edit=" + ",".join(f"{n}:0.5" for n in many))
    chips = page.locator(".st-key-arith_attrs [data-tag]")
    expect(chips).to_have_count(len(many), timeout=120_000)
    settle(page, 60_000)
    box = page.locator(".st-key-arith_attrs").bounding_box()
    for k in range(len(many)):
        chip = chips.nth(k).bounding_box()
        assert box["x"] - 1 <= chip["x"] and chip["x"] + chip["width"] <= box["x"] + box["width"] + 1, (k, chip, box)


def test_the_interpolation_position_scrubbed_in_the_page_goes_into_the_link(server, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": W, "height": 1000})
    page.goto(f"{server}/?view=interpolate&t=0.3")
    page.wait_for_function("() => window.__vaeLive && window.__vaeLive.live_interp && window.__vaeLive.live_interp.ready",
                           timeout=300_000)
    scrub = page.locator(".live input[type=range]").first
    assert float(scrub.input_value()) == 0.3  # the link's position, not the middle
    line = page.locator(".live .typical .typ").first
    expect(line).to_have_text(re.compile(r"lerp .* · slerp .* percentile of the encoded faces"))
    scrub.evaluate("el => { el.value = 0.8; el.dispatchEvent(new Event('input', {bubbles: true})); "
                   "el.dispatchEvent(new Event('change', {bubbles: true})); }")
    expect(page).to_have_url(re.compile(r"[?&]t=0\.8(&|$)"), timeout=60_000)


def test_the_live_face_reports_its_typicality_while_a_slider_moves(server, page, setup):
    shots = setup[1]
    page.set_viewport_size({"width": W, "height": 1000})
    page.goto(f"{server}/?view=sliders")
    # the decoder is exported on a checkpoint's first start: the page switches to live by itself
    page.wait_for_function("() => window.__vaeLive && window.__vaeLive.live_sliders && window.__vaeLive.live_sliders.ready",
                           timeout=300_000)
    from playwright.sync_api import expect

    line = page.locator(".live .typical .typ").first
    warn = page.locator(".live .typ-warn").first
    expect(line).to_have_text(re.compile("percentile of the encoded faces"), timeout=60_000)
    before = line.inner_text()
    assert not warn.is_visible()
    # a drag (input events, no release) of the first slider to its end: the number follows before any release
    first = page.locator(".live input[type=range]").first
    for v in ("2.5", "4", "5"):
        first.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", v)
    expect(line).not_to_have_text(before)
    expect(line).to_have_text(re.compile("percentile of the encoded faces"))
    live = page.evaluate("() => window.__vaeLive.live_sliders")
    assert live["typical"] is not None and len(live["typical"]) == 1
    assert "dims=" not in page.url  # nothing released yet: the number came from the page
    print(f"typicality readout in the page: {live['typicalMs'] * 1000:.0f} µs for the last move")
    # a second slider moved too: no profile describes both, so the line waits for the release
    second = page.locator(".live input[type=range]").nth(1)
    second.evaluate("el => { el.value = -5; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(line).to_have_text(re.compile("let go"))
    # the release: the server's exact number comes back with the URL
    second.evaluate("el => el.dispatchEvent(new Event('change', {bubbles: true}))")
    expect(page).to_have_url(re.compile(r"[?&]dims="), timeout=60_000)
    expect(line).to_have_text(re.compile("percentile of the encoded faces"), timeout=60_000)
    page.screenshot(path=shots / "newuser-live-typicality.png")
    # far from every encoding: the one-line warning shows
    far = ",".join(f"{d}:5" for d in range(0, 128, 2))
    page.goto(f"{server}/?view=sliders&dims={far}")
    expect(line).to_have_text(re.compile("<1st percentile"), timeout=120_000)
    expect(warn).to_be_visible()
    assert "Outside the data" in warn.inner_text()
    page.screenshot(path=shots / "newuser-live-typicality-warning.png")
