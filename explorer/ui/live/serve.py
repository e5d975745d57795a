"""Serving the live decoder: the routes app.py mounts (runtime files, decoder exports) and the export
itself, run once per checkpoint version in a background thread. No Streamlit here, so app.py can import it
before the runtime exists."""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
ORT_VERSION = "1.30.0"  # scripts/fetch_ort_web.py pins the same version and its sha256
ORT_PREFIX = f"/live/ort-{ORT_VERSION}/"
DECODER_PREFIX = "/live/decoder/"
# URL name -> (file in VENDOR, media type, extra headers). The wasm is committed gzipped and sent as is with
# Content-Encoding: gzip: the browser inflates it and can compile it while it streams in.
RUNTIME_FILES = {
    "ort.wasm.bundle.min.mjs": ("ort.wasm.bundle.min.mjs", "text/javascript", {}),
    "ort-wasm-simd-threaded.wasm": ("ort-wasm-simd-threaded.wasm.gz", "application/wasm", {"Content-Encoding": "gzip"}),
}

_served = False  # True once app.py's server started with routes(): only then can the page fetch the files
_exports: dict[str, Path] = {}  # file name under DECODER_PREFIX -> ONNX file (only these are served)
_futures: dict[str, Future] = {}  # model.key -> export in progress or done
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-export")


# --------------------------------------------------------------------------------------------
# Server side: routes and the export
# --------------------------------------------------------------------------------------------

def routes() -> list:
    """Starlette routes for ``st.App(routes=...)``: the runtime and the exported decoders, from this
    process only (the page asks no other host for anything)."""
    from starlette.responses import FileResponse, PlainTextResponse
    from starlette.routing import Route

    immutable = {"Cache-Control": "public, max-age=31536000, immutable"}  # names carry version / hash

    async def runtime(request):
        entry = RUNTIME_FILES.get(request.path_params["name"])
        if entry is None or not (VENDOR / entry[0]).is_file():
            return PlainTextResponse("not found", status_code=404)
        file, media, extra = entry
        return FileResponse(VENDOR / file, media_type=media, headers={**immutable, **extra})

    async def decoder(request):
        path = _exports.get(request.path_params["name"])
        if path is None or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type="application/octet-stream", headers=immutable)

    return [Route(ORT_PREFIX + "{name}", runtime), Route(DECODER_PREFIX + "{name}", decoder)]


def mark_served() -> None:
    """Called by the server's lifespan (explorer/ui/server.py), not by routes(): building the routes
    (as `discover_asgi_app` does) serves nothing yet."""
    global _served
    _served = True


def start_export(model) -> Future:
    """Export (or find in the cache) the decoder of ``model`` in a background thread, once per
    checkpoint version: the first export takes seconds, and the page must not wait for it."""
    with _lock:
        fut = _futures.get(model.key)
        if fut is None:
            fut = _futures[model.key] = _pool.submit(_export, model)
        return fut


def _export(model) -> str:
    from explorer.onnx_export import decoder_onnx

    path = decoder_onnx(model.vae)
    _exports[path.name] = path
    print(f"[explorer] live decoder ready: {path}", file=sys.stderr, flush=True)
    return DECODER_PREFIX + path.name


def pending(model) -> bool:
    """True while this model's export runs (the page then waits for it)."""
    fut = _futures.get(model.key)
    return fut is not None and not fut.done()


def status(model, off: str | None = None, wait: float = 0.0) -> tuple[str | None, str | None]:
    """(decoder URL, None) when a session can decode live, else (None, why not). ``off``: the reason
    this session's browser gave for not running the decoder, if it did."""
    if os.environ.get("EXPLORER_LIVE", "1") == "0":
        return None, "live preview turned off (EXPLORER_LIVE=0)"
    if not _served:
        return None, "live preview needs the app started with `streamlit run app.py`"
    if off:
        return None, f"live preview off in this browser ({off})"
    fut = start_export(model)
    try:
        return fut.result(timeout=wait), None
    except FutureTimeout:
        return None, "live preview is being prepared (exporting the decoder to ONNX)…"
    except Exception as e:  # the export's own error names the reason; the view decodes on the server
        return None, f"live preview unavailable: {e}"


