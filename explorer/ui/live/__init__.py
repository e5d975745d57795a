"""Live decoding in the browser: a Components-v2 component that holds the latent vector in the page and
decodes it with ONNX Runtime Web (WebAssembly) on every slider or pad movement, and reports the value to
Python only on release.

    app.py ──serve.routes()──► /live/ort-<version>/…   the runtime (vendor/, fetched by scripts/fetch_ort_web.py)
                               /live/decoder/<file>    the checkpoint's decoder as ONNX (explorer.onnx_export,
                                                       exported by serve.LiveDecoders in a background thread)
    a view ──component.mount()──► live.js in the page: sliders / pad → z → ort session → canvas
                         └─ on release: a trigger value ("release") → the view's callback → ViewState → URL

Python stays the source of truth: the page previews between releases, and every release reruns the view,
which writes the URL and prepares the PNG downloads from the server's own decode of the same z.

Live mode needs three things; without any of them the view draws today's server-side images with a one-line
note saying why: the app served by app.py (its routes carry the files), a decoder export that succeeded,
and a browser that ran WebAssembly (the page reports a failure with the "failed" trigger, and this session
then stays on the server). ``EXPLORER_LIVE=0`` turns it off.
"""
