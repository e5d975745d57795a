"""The fitted-density sampling, Dimensions × attributes and Prior holes views in Chromium, on the shipped
checkpoint: a click on a heatmap cell traverses its dimension and goes into the URL. Writes screenshots
(to refresh the README's: EXPLORER_SCREENSHOTS=docs/screenshots python -m pytest tests/ui/test_browser_density.py)."""
from __future__ import annotations


import pytest

from test_browser import ROOT, chromium_page, settle, setup, streamlit_server  # noqa: F401  (setup: the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Pixel position of point i of trace t of the first Plotly chart on the page.
CELL_JS = """([t, i]) => { const gd = document.querySelector('.js-plotly-plot'); const fl = gd._fullLayout;
  const tr = gd._fullData[t]; const r = gd.getBoundingClientRect();
  return {x: r.left + fl.xaxis._offset + fl.xaxis.d2p(tr.x[i]), y: r.top + fl.yaxis._offset + fl.yaxis.d2p(tr.y[i]),
          dim: Array.isArray(tr.customdata[i]) ? tr.customdata[i][0] : tr.customdata[i], n: tr.x.length}; }"""


def test_density_views_in_chromium(setup):
    ckpt, data, shots, tmp = setup
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp / "server-density.log") as url, \
            chromium_page(failure=tmp / "failure-density.png", log=tmp / "server-density.log") as page:
        # 1. Sample from the fitted density, opened from a link
        page.goto(url + "/?density=fitted")
        page.get_by_text("fitted density, seed 0", exact=False).first.wait_for(timeout=180_000)  # fits once
        settle(page, 60_000)
        assert "density=" not in page.url  # the fitted density is the default, so the link leaves it out
        page.screenshot(path=shots / "sample-fitted.png")

        # 2. Dimensions × attributes: click the Smiling cell of the third dimension
        page.set_viewport_size({"width": 1400, "height": 1300})
        page.goto(url + "/?view=dimattr")
        page.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot'); "
                               "return gd && gd._fullData && gd._fullData.length >= 2 && gd._fullLayout.xaxis; }",
                               timeout=60_000)
        settle(page)
        page.wait_for_timeout(300)  # let Plotly finish its layout before reading pixel positions
        n = page.evaluate(CELL_JS, [1, 0])["n"] // 40
        smiling = 31  # CelebA's attribute order
        cell = page.evaluate(CELL_JS, [1, smiling * n + 2])
        page.mouse.move(cell["x"], cell["y"])
        page.mouse.click(cell["x"], cell["y"])
        page.get_by_text(f"z{cell['dim']} from −3 to +3", exact=False).first.wait_for(timeout=30_000)
        settle(page)
        assert f"dim={cell['dim']}" in page.url and "view=dimattr" in page.url
        page.mouse.move(5, 5)  # no hover label in the picture
        page.wait_for_function("() => !document.querySelector('.js-plotly-plot .hoverlayer .hovertext')")
        page.screenshot(path=shots / "dimattr.png")

        # 3. Prior holes
        page.get_by_role("tab", name="Prior holes").click()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=60_000)
        page.get_by_text("fitted density (", exact=False).first.wait_for(timeout=60_000)
        settle(page)
        assert "view=holes" in page.url
        page.set_viewport_size({"width": 1400, "height": 1700})
        settle(page)
        page.screenshot(path=shots / "holes.png", full_page=True)
    for name in ("sample-fitted", "dimattr", "holes"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
