"""Serving the live decoder: the routes app.py mounts (runtime files, decoder exports) and the export
itself, run once per checkpoint version in a background thread. No Streamlit here, so app.py can import it
before the runtime exists."""
from __future__ import annotations

import functools
import gzip
import json
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from urllib.parse import parse_qs

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
ORT_VERSION = "1.30.0"  # scripts/fetch_ort_web.py pins the same version and its sha256
ORT_PREFIX = f"/live/ort-{ORT_VERSION}/"
DECODER_PREFIX = "/live/decoder/"
BOOT_URL = "/live/boot.mjs"  # starts the runtime; the page's HTML imports it first (BootScript), live.js next
# URL name -> (file in VENDOR, media type, extra headers). The wasm is committed gzipped and sent as is with
# Content-Encoding: gzip: the browser inflates it and can compile it while it streams in.
RUNTIME_FILES = {
    "ort.wasm.bundle.min.mjs": ("ort.wasm.bundle.min.mjs", "text/javascript", {}),
    "ort-wasm-simd-threaded.wasm": ("ort-wasm-simd-threaded.wasm.gz", "application/wasm", {"Content-Encoding": "gzip"}),
}



class LiveDecoders:
    """The server's live-decoder state, one object that app.py's lifespan (explorer/ui/server.py) makes, installs
    and closes: the decoders exported so far and those under way, and which checkpoint pages open by default.
    While none is installed (a script run without ``streamlit run app.py``, AppTest) there is nothing to serve,
    and the views decode on the server."""

    def __init__(self):
        self.exports: dict[str, Path] = {}  # file name under DECODER_PREFIX -> ONNX file (only these are served)
        self.futures: dict[str, Future] = {}  # model.key -> export in progress or done
        self.default: str | None = None  # model.key of the checkpoint a page opens without ?ckpt=
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-export")

    def start_export(self, model) -> Future:
        """Export (or find in the cache) the decoder of ``model`` in a background thread, once per
        checkpoint version: the first export takes seconds, and the page must not wait for it."""
        with self._lock:
            fut = self.futures.get(model.key)
            if fut is None:
                fut = self.futures[model.key] = self._pool.submit(self._export, model)
            return fut

    def _export(self, model) -> str:
        from explorer.onnx_export import decoder_onnx

        path = decoder_onnx(model.vae)
        _read(path, gzipped=True)  # before any page asks for it
        self.exports[path.name] = path
        print(f"[explorer] live decoder ready: {path}", file=sys.stderr, flush=True)
        return DECODER_PREFIX + path.name

    def default_decoder_url(self) -> str | None:
        fut = self.futures.get(self.default) if self.default else None
        return fut.result() if fut is not None and fut.done() and fut.exception() is None else None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


_installed: LiveDecoders | None = None  # the lifespan's object; routes and pages reach it through current()


def install(decoders: LiveDecoders | None) -> None:
    """The lifespan's: the routes of app.py answer from now on (None when the server stops)."""
    global _installed
    _installed = decoders


def current() -> LiveDecoders | None:
    return _installed


# --------------------------------------------------------------------------------------------
# Server side: routes and the export
# --------------------------------------------------------------------------------------------

def routes() -> list:
    """Starlette routes for ``st.App(routes=...)``: the runtime and the exported decoders, from this
    process only (the page asks no other host for anything)."""
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    immutable = {"Cache-Control": "public, max-age=31536000, immutable"}  # names carry version / hash

    async def runtime(request):
        entry = RUNTIME_FILES.get(request.path_params["name"])
        if entry is None or not (VENDOR / entry[0]).is_file():
            return PlainTextResponse("not found", status_code=404)
        file, media, extra = entry
        return Response(_read(VENDOR / file), media_type=media, headers={**immutable, **extra})

    async def boot(request):
        # not immutable: its name carries no version, and an edit must reach the next page
        return Response(_read(HERE / "boot.mjs"), media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    async def decoder(request):
        live = current()
        path = live.exports.get(request.path_params["name"]) if live is not None else None
        if path is None or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        if "gzip" in request.headers.get("accept-encoding", ""):
            # Compressed once per export, not per request: left to Streamlit's GZip middleware (level 9,
            # on every page load), the 5 MB decoder cost the server 0.3-0.9 s of CPU while the page loaded.
            return Response(_read(path, gzipped=True), media_type="application/octet-stream",
                            headers={**immutable, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(_read(path), media_type="application/octet-stream", headers=immutable)

    return [Route(ORT_PREFIX + "{name}", runtime), Route(DECODER_PREFIX + "{name}", decoder), Route(BOOT_URL, boot)]


@functools.lru_cache(maxsize=16)
def _read_cached(path: Path, mtime_ns: int, gzipped: bool) -> bytes:
    data = path.read_bytes()
    # level 6: the decoder's 4.96 MB -> 3.86 MB in 0.6 s here; level 9 saved 20 KB more for 0.35 s more
    return gzip.compress(data, compresslevel=6, mtime=0) if gzipped else data


def _read(path: Path, gzipped: bool = False) -> bytes:
    """A served file's bytes (gzipped if asked), made once per version. Sent in one piece: streamed from
    disk in 64 KB chunks (FileResponse), the 5 MB decoder took 0.8-1 s to reach a page while the server
    ran the page's script on 2 busy cores."""
    return _read_cached(path, path.stat().st_mtime_ns, gzipped)


def live_enabled() -> bool:
    return os.environ.get("EXPLORER_LIVE", "1") != "0"


class BootScript:
    """ASGI middleware for ``st.App(middleware=...)``: puts one line at the top of every HTML page the app
    sends, which starts the runtime (boot.mjs) and the default decoder's download as soon as the browser
    reads it. Without it both started only when the first component mounted, after Streamlit's code had
    loaded and the script had run (2.2 s on 2 cores), and the first live face waited for them in turn.

    Navigation requests (those that accept text/html) are asked for without compression and without
    validators, so the HTML can be edited and is never answered by an unedited 304; the edited page drops
    its ETag and gets its new length. Nothing else passes through here changed."""

    @staticmethod
    def tag(query: bytes) -> bytes:
        """Preload links for the runtime's modules and, for a page of the default checkpoint whose decoder
        is exported, the decoder (a page with ?ckpt= may open another one); then the script that starts
        them. The links come first in the page, so the browser asks for these files before Streamlit's 80
        modules: with 6 connections to the server, a file asked for from a script waited behind all of
        them (1 s). A failure is reported by live.js, which gets the same promises."""
        decoder = default_decoder_url() if "ckpt" not in parse_qs(query.decode("latin-1")) else None
        # (no preload for the wasm: ORT's worker fetches it, and a page's preload serves only the page)
        links = [f'<link rel="modulepreload" href="{BOOT_URL}">',
                 f'<link rel="modulepreload" href="{ORT_PREFIX}ort.wasm.bundle.min.mjs">']
        if decoder:
            links.append(f'<link rel="preload" href="{decoder}" as="fetch" crossorigin>')
        start = (f"b.openDecoder({json.dumps(ORT_PREFIX)}, {json.dumps(decoder)})" if decoder
                 else f"b.startRuntime({json.dumps(ORT_PREFIX)})")
        return ("".join(links) + f'<script type="module" async>import({json.dumps(BOOT_URL)}).then((b) => '
                f'{start}).catch(() => {{}});</script>').encode()

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        # Every static file of every page load passes here: the cheap header test first, the file last.
        if (scope["type"] != "http" or scope.get("method") != "GET"
                or b"text/html" not in dict(scope.get("headers") or []).get(b"accept", b"")
                or not live_enabled() or not (VENDOR / RUNTIME_FILES["ort.wasm.bundle.min.mjs"][0]).is_file()):
            return await self.app(scope, receive, send)
        drop = {b"accept-encoding", b"if-none-match", b"if-modified-since"}
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() not in drop]}
        start, body = None, []

        async def edit(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = False  # not a page: as it is
                    return await send(message)
                start = message
                return None
            if start is False or message["type"] != "http.response.body":
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            html = b"".join(body)
            i = html.find(b"<head>")
            html = html[:i + 6] + self.tag(scope.get("query_string", b"")) + html[i + 6:] if i >= 0 else html
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in {b"content-length", b"etag"}]
            await send({**start, "headers": headers + [(b"content-length", str(len(html)).encode())]})
            await send({"type": "http.response.body", "body": html})

        await self.app(scope, receive, edit)


def default_decoder_url() -> str | None:
    live = current()
    return live.default_decoder_url() if live is not None else None


def pending(model) -> bool:
    """True while this model's export runs (the page then waits for it)."""
    live = current()
    fut = live.futures.get(model.key) if live is not None else None
    return fut is not None and not fut.done()


def status(model, off: str | None = None, wait: float = 0.0) -> tuple[str | None, str | None]:
    """(decoder URL, None) when a session can decode live, else (None, why not). ``off``: the reason
    this session's browser gave for not running the decoder, if it did."""
    if not live_enabled():
        return None, "live preview turned off (EXPLORER_LIVE=0)"
    live = current()
    if live is None:
        return None, "live preview needs the app started with `streamlit run app.py`"
    if off:
        return None, f"live preview off in this browser ({off})"
    fut = live.start_export(model)
    try:
        return fut.result(timeout=wait), None
    except FutureTimeout:
        return None, "live preview is being prepared (exporting the decoder to ONNX)…"
    except Exception as e:  # the export's own error names the reason; the view decodes on the server
        return None, f"live preview unavailable: {e}"


