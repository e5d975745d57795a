"""The decoder in the browser: the ONNX export against PyTorch, the runtime's committed files, and, in
Chromium, live frames while a slider is dragged, the fallback without WebAssembly, and no other host."""
from __future__ import annotations

import gzip
import json
import math
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
from test_app import make_checkpoint_file  # noqa: E402

VENDOR = ROOT / "explorer" / "ui" / "live" / "vendor"


# --------------------------------------------------------------------------------------------
# The export (no browser)
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_onnx_decoder_matches_pytorch_and_is_cached_per_checkpoint_version(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from explorer import load_checkpoint
    from explorer.onnx_export import decoder_onnx

    path = make_checkpoint_file(tmp_path / "tiny.pt", latent_dim=8, image_size=32)
    vae = load_checkpoint(path)
    onnx_file = decoder_onnx(vae, cache=tmp_path / "cache")
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for n in (1, 7):  # a face and a traversal strip: the batch size is dynamic
        z = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32) * 2
        got = sess.run(None, {"z": z})[0]
        want = vae.decode(z).numpy()
        assert got.shape == want.shape == (n, 3, 32, 32)
        assert np.abs(got - want).max() < 1 / 255
        assert want.std() > 0.01  # a flat grey image would match trivially
    # written with the layers the browser runs faster (explorer.onnx_export._Decoder), not Conv/LeakyRelu
    import onnx
    assert {n.op_type for n in onnx.load(str(onnx_file)).graph.node} == {"Gemm", "PRelu", "Reshape", "ConvTranspose",
                                                                       "Sigmoid"}

    # the same file is read from the cache, not exported again
    stamp = onnx_file.stat().st_mtime_ns
    assert decoder_onnx(vae, cache=tmp_path / "cache") == onnx_file and onnx_file.stat().st_mtime_ns == stamp
    # a retrained checkpoint at the same path gets its own export
    make_checkpoint_file(path, latent_dim=8, image_size=32, seed=1)
    assert decoder_onnx(load_checkpoint(path), cache=tmp_path / "cache") != onnx_file


@pytest.mark.parametrize("kernel,padding", [(3, 1), (5, 2), ((3, 1), (1, 0)), (3, 0), (1, 0)])
def test_a_stride_one_conv_is_rewritten_as_the_same_transposed_conv(kernel, padding):
    from explorer.onnx_export import _as_conv_transpose

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 5, kernel, 1, padding, bias=kernel != 5)
    t = _as_conv_transpose(conv)
    x = torch.randn(2, 4, 9, 11)
    assert isinstance(t, torch.nn.ConvTranspose2d)
    with torch.no_grad():
        assert torch.allclose(t(x), conv(x), atol=1e-5)
    # where the identity does not hold, the convolution is kept
    for other in (torch.nn.Conv2d(4, 5, 3, 2, 1), torch.nn.Conv2d(4, 4, 3, 1, 1, groups=2),
                  torch.nn.Conv2d(4, 5, 3, 1, 1, dilation=2), torch.nn.Conv2d(4, 5, 3, 1, 3)):
        assert _as_conv_transpose(other) is other


@pytest.mark.slow
def test_the_server_decodes_while_the_decoder_exports(tmp_path):
    """A page opened in the first seconds of a new checkpoint decodes on the server while its decoder is
    exported: neither may fail (torch.export patches every module call of the process it traces in)."""
    import threading

    from explorer import load_checkpoint
    from explorer.onnx_export import decoder_onnx

    vae = load_checkpoint(make_checkpoint_file(tmp_path / "tiny.pt", latent_dim=8, image_size=32))
    errors, decodes, stop = [], [0], threading.Event()

    def page():  # a session decoding on the server, again and again
        while not stop.is_set():
            try:
                vae.decode(np.zeros((2, 8), np.float32))
            except Exception as e:
                errors.append(e)
                return
            decodes[0] += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # the threads take turns often, so the decodes fall inside the export
    pages = [threading.Thread(target=page) for _ in range(2)]
    try:
        for t in pages:
            t.start()
        onnx_file = decoder_onnx(vae, cache=tmp_path / "cache")
    finally:
        stop.set()
        for t in pages:
            t.join()
        sys.setswitchinterval(switch)
    assert not errors, repr(errors[0])
    assert onnx_file.is_file() and decodes[0] > 10


def test_a_failed_export_is_reported_not_raised(tmp_path, monkeypatch):
    from explorer import onnx_export

    def broken(*a, **k):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(onnx_export.ExportError, match="unsupported operator"):
        onnx_export.export_decoder(torch.nn.Linear(2, 2), 2, tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())  # no half-written file left behind


def test_the_runtime_files_are_committed_and_pinned():
    version = (VENDOR / "VERSION").read_text()
    script = (ROOT / "scripts" / "fetch_ort_web.py").read_text()
    from explorer.ui.live.serve import ORT_VERSION, RUNTIME_FILES

    assert f'VERSION = "{ORT_VERSION}"' in script and ORT_VERSION in version
    sha = version.split("sha256 ")[1].split(")")[0]
    assert f'TARBALL_SHA256 = "{sha}"' in script
    for file, _, _ in RUNTIME_FILES.values():
        assert (VENDOR / file).stat().st_size > 10_000
    wasm = gzip.decompress((VENDOR / "ort-wasm-simd-threaded.wasm.gz").read_bytes())
    assert wasm[:4] == b"\0asm"
    assert b"ONNX Runtime Web v" + ORT_VERSION.encode() in (VENDOR / "ort.wasm.bundle.min.mjs").read_bytes()[:200]


def _through_boot_script(monkeypatch, live: str, accept: bytes, content_type: bytes, chunks: list[bytes],
                         query: bytes = b""):
    """What BootScript sends on for a page answered in ``chunks``, and the request headers the page saw."""
    import asyncio

    from explorer.ui.live.serve import BootScript

    monkeypatch.setenv("EXPLORER_LIVE", live)
    seen, sent = {}, []

    async def page(scope, receive, send):
        seen.update(dict(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", content_type), (b"etag", b'"abc"'),
            (b"content-length", str(sum(map(len, chunks))).encode())]})
        for i, c in enumerate(chunks):
            await send({"type": "http.response.body", "body": c, "more_body": i < len(chunks) - 1})

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": [
        (b"accept", accept), (b"accept-encoding", b"gzip"), (b"if-none-match", b'"abc"')]}
    asyncio.run(BootScript(page)(scope, None, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return seen, dict(sent[0]["headers"]), body


def test_every_html_page_starts_the_runtime_from_its_first_line(monkeypatch):
    from explorer.ui.live.serve import BOOT_URL

    html = [b"<!DOCTYPE html><html><head><meta charset='UTF-8'>", b"<title>x</title></head><body></body></html>"]
    seen, headers, body = _through_boot_script(monkeypatch, "1", b"text/html,*/*", b"text/html; charset=utf-8", html)
    head = b"<!DOCTYPE html><html><head>"
    added = body[len(head):len(body) - len(b"".join(html)) + len(head)]
    assert body.startswith(head) and body.endswith(b"".join(html)[len(head):])
    # first the preload of the boot module (asked for before Streamlit's own modules), then the script
    assert added.startswith(f'<link rel="modulepreload" href="{BOOT_URL}">'.encode())
    assert f'<script type="module" async>import("{BOOT_URL}")'.encode() in added and added.endswith(b"</script>")
    assert int(headers[b"content-length"]) == len(body) and b"etag" not in headers
    # asked for uncompressed and unconditionally, so it can be edited and no stale page is kept
    assert b"accept-encoding" not in seen and b"if-none-match" not in seen

    assert b"openDecoder" not in body and b"b.startRuntime(" in body  # no decoder exported yet: the runtime

    # once the default checkpoint's decoder is exported, it is downloaded and opened there too, unless
    # the page asks for another checkpoint
    from explorer.ui.live import serve
    monkeypatch.setattr(serve, "default_decoder_url", lambda: "/live/decoder/abc.onnx")
    for query, prefetched in ((b"view=sliders", True), (b"view=sliders&ckpt=celeba64-beta4.pt", False)):
        body = _through_boot_script(monkeypatch, "1", b"text/html", b"text/html", html, query)[2]
        assert (b'b.openDecoder("/live/ort-' in body and b'"/live/decoder/abc.onnx")' in body) == prefetched, query

    # anything else passes as it was: other requests, other answers, live decoding turned off
    for live, accept, ctype in (("1", b"*/*", b"text/html"), ("1", b"text/html", b"application/json"),
                                ("0", b"text/html", b"text/html")):
        seen, headers, body = _through_boot_script(monkeypatch, live, accept, ctype, html)
        assert body == b"".join(html) and headers[b"etag"] == b'"abc"', (live, accept, ctype)


def test_the_decoder_is_sent_gzipped_as_compressed_once_per_export(tmp_path, monkeypatch):
    """Left to Streamlit's GZip middleware, the 5 MB decoder was compressed again (level 9) for every page,
    0.3-0.9 s of the server's CPU while that page loaded."""
    import asyncio

    from starlette.applications import Starlette

    from explorer.ui.live import serve

    onnx = tmp_path / "decoder-abc.onnx"
    onnx.write_bytes(np.random.default_rng(0).integers(0, 4, 200_000, dtype=np.uint8).tobytes())
    live = serve.LiveDecoders()  # what the app's lifespan installs
    live.exports[onnx.name] = onnx
    monkeypatch.setattr(serve, "_installed", live)
    calls = []
    real = gzip.compress
    monkeypatch.setattr(gzip, "compress", lambda *a, **k: calls.append(1) or real(*a, **k))
    app = Starlette(routes=serve.routes())

    def get(accept_encoding: bytes):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": "GET", "path": serve.DECODER_PREFIX + onnx.name, "raw_path": b"",
                 "root_path": "", "query_string": b"", "scheme": "http", "server": ("x", 80),
                 "headers": [(b"accept-encoding", accept_encoding)] if accept_encoding else []}
        asyncio.run(app(scope, receive, send))
        return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])

    for _ in range(3):
        status, headers, body = get(b"gzip, deflate, br")
        assert status == 200 and headers[b"content-encoding"] == b"gzip" and b"accept-encoding" in headers[b"vary"].lower()
        assert gzip.decompress(body) == onnx.read_bytes() and len(body) < onnx.stat().st_size
        assert int(headers[b"content-length"]) == len(body)
    assert len(calls) == 1  # once for three pages
    status, headers, body = get(b"")  # a client that takes no gzip gets the file as it is
    assert status == 200 and b"content-encoding" not in headers and body == onnx.read_bytes()
    onnx.write_bytes(onnx.read_bytes()[::-1])  # a new export at the same name: compressed anew
    os.utime(onnx, ns=(onnx.stat().st_atime_ns, onnx.stat().st_mtime_ns + 10**9))
    assert gzip.decompress(get(b"gzip")[2]) == onnx.read_bytes() and len(calls) == 2


def test_outside_app_py_the_views_decode_on_the_server_and_say_so():
    from streamlit.testing.v1 import AppTest

    from test_app import PAGE
    path = make_checkpoint_file(Path(os.environ.get("TMPDIR", "/tmp")) / f"live-{os.getpid()}.pt", latent_dim=16)
    try:
        sys_argv = sys.argv
        sys.argv = ["app.py", "--checkpoint", str(path)]
        at = AppTest.from_file(str(PAGE), default_timeout=60)
        at.query_params["view"] = "sliders"
        at.run()
    finally:
        sys.argv = sys_argv
        path.unlink(missing_ok=True)
    assert not at.exception
    assert any("faces are decoded on the server" in c.value for c in at.caption)
    assert len(at.slider) == 12 and at.main.get("image")


# --------------------------------------------------------------------------------------------
# In Chromium
# --------------------------------------------------------------------------------------------

from test_browser import CHROMIUM, CHROMIUM_ARGS, measured_page, streamlit_server  # noqa: E402

browser = pytest.mark.browser
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")
SHIPPED = ROOT / "checkpoints" / "celeba64.pt"
LIVE = ".st-key-live_sliders"
STATS = "window.__vaeLive && window.__vaeLive.live_sliders"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    ckpt = SHIPPED if SHIPPED.exists() else make_checkpoint_file(tmp / "tiny64.pt", latent_dim=32, image_size=64)
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp / "server.log") as url:
        yield url, ckpt, tmp


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    url = server[0]
    host = urlparse(url).netloc
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = measured_page(b, viewport={"width": 1400, "height": 1000})
        # Every request the page makes: the app's own host only (blob: and data: stay in the page).
        pg.foreign = []
        pg.on("request", lambda r: pg.foreign.append(r.url)
              if urlparse(r.url).scheme not in ("blob", "data") and urlparse(r.url).netloc != host else None)
        try:
            yield pg
        finally:
            b.close()


def _z_from_page(pg) -> np.ndarray:
    values = pg.evaluate(f"{STATS}.values")
    return np.array([values[str(i)] for i in range(len(values))], np.float32)


def _canvas_pixels(pg, sel: str) -> np.ndarray:
    w, h, data = pg.locator(sel).evaluate(
        "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]")
    return np.array(data, np.uint8).reshape(h, w, 4)[..., :3]


def _open_live(pg, url: str, query: str = "?view=sliders", stats: str = STATS, timeout: int = 120_000) -> None:
    """Open the app at `query` and wait for the live component's first face (an export on a cold cache
    takes a while)."""
    pg.goto(url + "/" + query)
    pg.wait_for_function(f"{stats} && {stats}.firstFace !== null", timeout=timeout)


def _z_at_rest(pg, dim: int, value: float) -> np.ndarray:
    """The page's z once it is idle with `dim` at the released `value`: after the rerun the page holds
    Python's float32 z, so compared to float32 precision."""
    pg.wait_for_function(f"{STATS}.idle && Math.abs({STATS}.values[{json.dumps(str(dim))}] - {value}) < 1e-5",
                         timeout=10_000)
    return _z_from_page(pg)


def _assert_faces_drawn(pg, sel: str, want: np.ndarray) -> None:
    """The canvas at `sel` shows the faces `want` (N,S,S,3) in a row, 2 px apart, each within 2/255."""
    got = _canvas_pixels(pg, sel)
    S = want.shape[1]
    assert got.shape == (S, len(want) * S + (len(want) - 1) * 2, 3)
    for k, face in enumerate(want):
        assert np.abs(got[:, k * (S + 2):k * (S + 2) + S].astype(int) - face.astype(int)).max() <= 2, k


def _drag_held(pg, slider, a: float, b: float, moves: int = 40):
    """Press on `slider` at fraction a of its width and move to b in small steps; the button stays held."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    x0, x1 = box["x"] + box["width"] * a, box["x"] + box["width"] * b
    pg.mouse.move(x0, y)
    pg.mouse.down()
    for i in range(1, moves + 1):
        pg.mouse.move(x0 + (x1 - x0) * i / moves, y)
        pg.wait_for_timeout(16)


@browser
@pytest.mark.slow
@needs_chromium
def test_a_drag_draws_many_frames_and_the_release_matches_the_server(server, page):
    from explorer import load_checkpoint
    from explorer.imaging import to_uint8_images

    url, ckpt, tmp = server
    _open_live(page, url)
    # the runtime was started by the page's first line, before the view's component mounted
    timing = page.evaluate("window.__vaeLiveTiming")
    assert timing["start"] < timing["mounted"], timing
    slider = page.locator(f"{LIVE} input[type=range]").first
    dim = int(slider.get_attribute("data-id"))
    before = page.evaluate(f"{STATS}.frames")
    _drag_held(page, slider, 0.5, 0.9, moves=60)  # ~1-2 s of small moves, the button held
    # still held: the face has followed the pointer, and the URL has not been written yet
    page.wait_for_function(f"{STATS}.frames >= {before + 10}", timeout=10_000)
    assert "dims=" not in page.url
    page.mouse.up()

    # on release the value goes to Python and into the URL
    page.wait_for_function("() => location.search.includes('dims=')", timeout=30_000)
    moved = float(page.evaluate(f"{STATS}.values")[str(dim)])
    dims = dict(kv.split(":") for kv in parse_qs(urlparse(page.url).query)["dims"][0].split(","))
    assert abs(float(dims[str(dim)]) - moved) < 1e-3 and moved > 1.0
    # the frame at the release point: the page's pixels against PyTorch's decode of the same z
    z = _z_at_rest(page, dim, moved)
    _assert_faces_drawn(page, f"{LIVE} canvas.main", to_uint8_images(load_checkpoint(ckpt).decode(z[None])))
    assert page.foreign == [], page.foreign
    if os.environ.get("EXPLORER_SCREENSHOTS"):  # the README's picture of the live sliders
        page.screenshot(path=Path(os.environ["EXPLORER_SCREENSHOTS"]) / "sliders-live.png")


@browser
@pytest.mark.slow
@needs_chromium
def test_every_move_of_a_slow_drag_moves_the_face_and_arrow_keys_keep_the_step(server, page):
    """A slider's step (0.05) is about a pixel wide: on that grid a slow drag left the face still in the
    frames whose move stayed within one step. The pointer sets values on a finer grid, so each half-pixel
    move gives a new value and a new face; the arrow keys still move to the next point of the step."""
    url = server[0]
    _open_live(page, url)
    page.wait_for_function(f"{STATS}.idle", timeout=30_000)
    slider = page.locator(f"{LIVE} input[type=range]").nth(2)
    dim = slider.get_attribute("data-id")
    box = slider.bounding_box()
    step_px = box["width"] / ((float(slider.get_attribute("max")) - float(slider.get_attribute("min"))) / 0.05)
    assert step_px > 0.5  # each move below is less than one step
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    value = page.evaluate(f"{STATS}.values[{json.dumps(dim)}]")
    frames = page.evaluate(f"{STATS}.frames")
    for i in range(1, 13):
        page.mouse.move(x + 0.5 * i, y)
        page.wait_for_function(f"([d, v]) => {STATS}.values[d] > v", arg=[dim, value], timeout=5_000)
        value = page.evaluate(f"{STATS}.values[{json.dumps(dim)}]")
        page.wait_for_function(f"(n) => {STATS}.frames > n", arg=frames, timeout=5_000)  # its face, drawn
        frames = page.evaluate(f"{STATS}.frames")
    page.mouse.up()
    page.wait_for_function("() => location.search.includes('dims=')", timeout=30_000)
    dims = dict(kv.split(":") for kv in parse_qs(urlparse(page.url).query)["dims"][0].split(","))
    assert abs(float(dims[dim]) - value) < 1e-3

    # the keyboard: to the next multiple of 0.05 above, then two below; each press goes into the URL
    want = (math.floor(value / 0.05 + 1e-6) + 1) * 0.05
    for key, want in (("ArrowRight", want), ("ArrowLeft", want - 0.05), ("ArrowLeft", want - 0.10)):
        slider.press(key)
        page.wait_for_function(f"([d, w]) => Math.abs({STATS}.values[d] - w) < 1e-6", arg=[dim, want], timeout=5_000)
        page.wait_for_function("([d, w]) => (new URLSearchParams(location.search).get('dims') || '').split(',')"
                               ".some(kv => kv.split(':')[0] === d && Math.abs(parseFloat(kv.split(':')[1]) - w) < 1e-6)",
                               arg=[dim, want], timeout=30_000)
    assert page.foreign == [], page.foreign


@browser
@pytest.mark.slow
@needs_chromium
def test_after_a_pause_the_first_move_is_decoded_at_once(server, page):
    """At most one face is started per animation frame. The flag that says so was once cleared only by a
    frame that something else had asked for: when the last face before a pause was started by a frame's
    animation callback (two moves in one frame), the flag stayed set, and the first move after the pause
    waited for its frame's animation callbacks (the bench counted one frame a drag with a new value and no
    new face). An animation callback asked for before that move must now find its face drawn."""
    url = server[0]
    _open_live(page, url)
    page.wait_for_function(f"['inline', 'worker only'].includes({STATS}.lane)", timeout=30_000)
    if page.evaluate(f"{STATS}.lane") != "inline":
        pytest.skip("faces decode in the worker on this machine (over 16 ms a face on the page's thread)")
    page.wait_for_function(f"{STATS}.idle", timeout=30_000)
    slider = page.locator(f"{LIVE} input[type=range]").nth(1)
    move = """(input, by) => { input.value = String(parseFloat(input.value) + by);
                                 input.dispatchEvent(new Event("input", { bubbles: true })); }"""
    frames = page.evaluate(f"{STATS}.frames")
    slider.evaluate(f"(input) => {{ const move = {move}; move(input, 0.3); move(input, 0.3); }}")  # one frame, two moves
    page.wait_for_function(f"(n) => {STATS}.idle && {STATS}.frames === n + 2", arg=frames, timeout=10_000)
    before, at_callback = slider.evaluate(f"""async (input) => {{
        const st = {STATS}, before = st.frames, move = {move};
        const seen = new Promise((res) => requestAnimationFrame(() => res(st.frames)));
        move(input, -0.5);
        return [before, await seen];
    }}""")
    assert at_callback == before + 1


@browser
@pytest.mark.slow
@needs_chromium
def test_the_strip_follows_another_dimension_while_dragged_and_stays_for_its_own(server, page):
    from explorer import latent, load_checkpoint
    from explorer.imaging import to_uint8_images
    from explorer.ui.sliders import TRAVERSAL

    url, ckpt, tmp = server
    _open_live(page, url)
    # once the page is idle, the main faces decode on its own thread and the worker keeps the strip (or,
    # where a face takes longer than a frame there, the worker keeps both: the same behaviour is asked)
    page.wait_for_function(f"['inline', 'worker only'].includes({STATS}.lane) && {STATS}.idle", timeout=30_000)
    sliders = page.locator(f"{LIVE} input[type=range]")
    own, other = int(sliders.nth(0).get_attribute("data-id")), int(sliders.nth(1).get_attribute("data-id"))
    strip0, strips0, frames0 = (_canvas_pixels(page, f"{LIVE} canvas.strip"), page.evaluate(f"{STATS}.strips"),
                                page.evaluate(f"{STATS}.frames"))

    # the traversed dimension itself: every face of its strip sets that coordinate, so the strip stays
    _drag_held(page, sliders.nth(0), 0.5, 0.8)
    page.wait_for_function(f"{STATS}.frames >= {frames0 + 10}", timeout=10_000)
    assert page.evaluate(f"{STATS}.strips") == strips0
    page.mouse.up()
    page.wait_for_function("() => location.search.includes('dims=')", timeout=30_000)
    page.wait_for_function(f"{STATS}.idle", timeout=10_000)
    assert page.evaluate(f"{STATS}.strips") == strips0
    assert np.array_equal(_canvas_pixels(page, f"{LIVE} canvas.strip"), strip0)

    # another dimension: the strip is redrawn while the button is still held
    q = page.evaluate("location.search")
    _drag_held(page, sliders.nth(1), 0.5, 0.9)
    page.wait_for_function(f"{STATS}.strips >= {strips0 + 2}", timeout=10_000)
    assert page.evaluate("location.search") == q  # not released yet
    page.mouse.up()
    page.wait_for_function("(q) => location.search !== q", arg=q, timeout=30_000)
    z = _z_at_rest(page, other, float(page.evaluate(f"{STATS}.values")[str(other)]))
    # the strip at rest: the server's traversal of the same z, face by face, within 2/255
    want = to_uint8_images(load_checkpoint(ckpt).decode(latent.traversal(z, own, TRAVERSAL)))
    _assert_faces_drawn(page, f"{LIVE} canvas.strip", want)
    assert not np.array_equal(_canvas_pixels(page, f"{LIVE} canvas.strip"), strip0)
    assert page.foreign == [], page.foreign


@browser
@pytest.mark.slow
@needs_chromium
def test_without_webassembly_the_sliders_decode_on_the_server(server, page):
    url = server[0]
    page.add_init_script("Object.defineProperty(window, 'WebAssembly', {value: undefined})")
    page.goto(url + "/?view=sliders")
    face_sel = ".st-key-slider_face img"
    page.wait_for_selector(face_sel, timeout=60_000)
    page.get_by_text("live preview off in this browser", exact=False).first.wait_for(timeout=30_000)
    face = page.eval_on_selector(face_sel, "e => e.src")
    slider = page.locator(".st-key-top_sliders [data-testid=stSlider] input[type=range]").first
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); "
                           "return i && i.src !== old && i.complete && i.naturalWidth > 0; }",
                           arg=[face_sel, face], timeout=30_000)
    page.wait_for_function("() => location.search.includes('dims=')", timeout=30_000)
    assert page.foreign == [], page.foreign


@browser
@pytest.mark.slow
@needs_chromium
def test_the_attribute_pad_follows_the_pointer_and_writes_both_weights_on_release(server, page):
    url = server[0]
    pad_stats = "window.__vaeLive && window.__vaeLive.live_pad_attrs"
    _open_live(page, url, "?view=arithmetic&edit=Eyeglasses:-1", pad_stats)
    pad = page.locator(".st-key-live_pad_attrs canvas.padc")
    pad.scroll_into_view_if_needed()  # below the edit's readouts: a pointer off the viewport reaches nothing
    box = pad.bounding_box()
    before = page.evaluate(f"{pad_stats}.frames")
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(1, 31):  # towards the top right: more Smiling, more Male
        page.mouse.move(cx + box["width"] * 0.3 * i / 30, cy - box["height"] * 0.3 * i / 30)
        page.wait_for_timeout(16)
    page.wait_for_function(f"{pad_stats}.frames >= {before + 5}", timeout=10_000)
    assert "Smiling" not in page.url  # nothing is sent while the button is held
    page.mouse.up()
    page.wait_for_function("() => location.search.includes('Smiling') && location.search.includes('Male')",
                           timeout=30_000)
    edit = dict(kv.split(":") for kv in parse_qs(urlparse(page.url).query)["edit"][0].split(","))
    assert float(edit["Smiling"]) > 3 and float(edit["Male"]) > 3 and float(edit["Eyeglasses"]) == -1
    assert page.foreign == [], page.foreign


@browser
@pytest.mark.slow
@needs_chromium
def test_a_users_page_decodes_live_without_exposing_the_measurements(server):
    """The measurements (window.__vaeLive, __vaeLiveTiming) are for the tests and the bench, which ask for them
    before the page loads; a user's page draws its live face and exposes neither."""
    from playwright.sync_api import sync_playwright

    drawn = """c => { if (!c.width) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] || d[i + 1] || d[i + 2]) return true;
        return false; }"""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = b.new_page(viewport={"width": 1400, "height": 1000})
            pg.goto(server[0] + "/?view=sliders")
            # the component's canvas (in its shadow root, which a locator reaches), then a face drawn on it
            canvas = pg.locator(".st-key-live_sliders canvas").first.element_handle(timeout=120_000)
            pg.wait_for_function(drawn, arg=canvas, timeout=120_000)
            assert pg.evaluate("[typeof window.__vaeLive, typeof window.__vaeLiveTiming]") == ["undefined", "undefined"]
        finally:
            b.close()


@browser
@pytest.mark.slow
@needs_chromium
def test_a_kind_of_hat_is_scrubbed_live_and_its_weight_goes_into_the_url(server, page):
    """An edit name with a kind (Wearing_Hat.1, explorer.analysis.kinds) is a control of the live edit like any
    attribute: the face follows its weight while dragged, and the release writes that name's weight."""
    url = server[0]
    edit_stats = "window.__vaeLive && window.__vaeLive.live_edit"
    _open_live(page, url, "?view=arithmetic&edit=Wearing_Hat.1:2", edit_stats)
    slider = page.locator(".st-key-live_edit input[type=range]").first
    assert slider.get_attribute("data-id") == "Wearing_Hat.1"
    before = page.evaluate(f"{edit_stats}.frames")
    _drag_held(page, slider, 0.6, 0.9, moves=30)
    page.wait_for_function(f"{edit_stats}.frames >= {before + 5}", timeout=10_000)
    assert "Wearing_Hat.1%3A2" in page.url or "Wearing_Hat.1:2" in page.url  # nothing sent while held
    page.mouse.up()
    page.wait_for_function("() => !/Wearing_Hat\\.1(:|%3A)2(,|&|$)/.test(location.search)", timeout=30_000)
    moved = float(page.evaluate(f"{edit_stats}.values")["Wearing_Hat.1"])
    edit = dict(kv.split(":") for kv in parse_qs(urlparse(page.url).query)["edit"][0].split(","))
    assert list(edit) == ["Wearing_Hat.1"] and abs(float(edit["Wearing_Hat.1"]) - moved) < 1e-3 and moved > 4
    assert page.foreign == [], page.foreign


# Loaded by the test server's interpreter (sitecustomize): hold the decoder export until a file exists.
EXPORT_GATE = """
import os, time
import explorer.onnx_export as onnx_export
_export = onnx_export.decoder_onnx
def _gated(*args, **kwargs):
    while not os.path.exists(os.environ["EXPLORER_TEST_EXPORT_GATE"]):
        time.sleep(0.05)
    return _export(*args, **kwargs)
onnx_export.decoder_onnx = _gated
"""


@browser
@pytest.mark.slow
@needs_chromium
def test_on_a_cold_cache_the_page_decodes_on_the_server_then_goes_live(tmp_path):
    """The first run of a checkpoint exports its decoder in the background: the server answers at once,
    the sliders decode on the server with a note, and the page switches to live by itself when ready."""
    from playwright.sync_api import sync_playwright

    ckpt = make_checkpoint_file(tmp_path / "cold.pt", latent_dim=16, image_size=32)
    # The server's export waits for a gate file that this test creates once it has seen the server-side
    # faces: otherwise a quick export could finish before the first page, and the test would race it.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(EXPORT_GATE)
    gate = tmp_path / "gate"
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_TEST_EXPORT_GATE": str(gate),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp_path / "server.log", env=env) as url, \
            sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = measured_page(b, viewport={"width": 1400, "height": 1000})
            pg.goto(url + "/?view=sliders")
            # server-side faces first (generous waits: on a busy 2-core machine a page can take a minute)
            pg.wait_for_selector(".st-key-slider_face img", timeout=120_000)
            pg.get_by_text("being prepared", exact=False).first.wait_for(timeout=120_000)
            assert not list((tmp_path / "cache" / "onnx").glob("decoder-*.onnx"))
            gate.touch()  # now let the export run; the page must switch to live by itself
            pg.wait_for_function(f"{STATS} && {STATS}.firstFace !== null", timeout=180_000)
            assert pg.evaluate(f"{STATS}.error") is None
            assert list((tmp_path / "cache" / "onnx").glob("decoder-*.onnx"))
        finally:
            b.close()


@pytest.mark.parametrize("view", ["sliders", "arithmetic", "interpolate"])
def test_the_live_views_run_and_keep_their_downloads(view, tmp_path, monkeypatch):
    """The Python side of live mode (the page's JS does not run in AppTest): each view mounts the
    component instead of drawing faces, keeps its PNG downloads, and shows no fallback note."""
    from streamlit.testing.v1 import AppTest

    from explorer.ui.live import serve
    from test_app import PAGE

    monkeypatch.setattr(serve, "status", lambda model, off=None, wait=0.0: ("/live/decoder/test.onnx", None))
    path = make_checkpoint_file(tmp_path / "tiny.pt", latent_dim=16)
    monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint", str(path)])
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params.update(view=view, edit="Smiling:2")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("decoded on the server" in c.value for c in at.caption)
    keys = [sl.key for sl in at.slider]
    assert not any(k.startswith(("dim_", "w_")) for k in keys), keys  # those sliders live in the page now
    if view != "interpolate":  # interpolation keeps its server-drawn rows; the scrubber is extra
        assert at.get("download_button")
