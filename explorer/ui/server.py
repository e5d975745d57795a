"""Server start-up: make the first visitor as fast as the next one.

Streamlit runs the page script only when a browser connects, so without this the first visitor waits
for torch to import and the checkpoint to load (seconds on a small machine). app.py hands ``lifespan``
to ``st.App``; the server answers requests only once it has finished.
"""
from __future__ import annotations

import asyncio
import importlib
import sys
import time
from contextlib import asynccontextmanager


def warm_up(argv: list[str]):
    """Import every view and load the checkpoint the page opens by default into the shared cache.
    Returns that model (None when there is none to load)."""
    t0 = time.perf_counter()
    from explorer import CheckpointError, catalog, latent
    from explorer.ui import main, models, views
    from explorer.urlstate import VIEWS

    for view in VIEWS:
        views.module(view)
    try:  # the page icon is an emoji: Streamlit's emoji table compiles a large regex on first use (0.3 s)
        importlib.import_module("streamlit.emojis")
    except ImportError:  # a Streamlit without it: nothing to warm
        pass
    _, choices = catalog.offered(argv)
    default = catalog.default_choice(choices)
    if default is None:
        return None  # the page explains how to get a checkpoint
    main.configure_torch()
    try:
        model = models.load_model(choices[default])
    except CheckpointError as e:
        print(f"[explorer] warm-up: {e} (the page will say so)", file=sys.stderr, flush=True)
        return None
    model.faces(latent.sample_z(16, model.dim, 0, 0.8))  # the first decode sets up torch's kernels
    print(f"[explorer] ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return model


@asynccontextmanager
async def lifespan(app):
    from explorer.ui.live import serve

    # The live decoders' state lives as long as the server: made here, not when the routes are built (as
    # `discover_asgi_app` does, which serves nothing yet), and closed when it stops.
    decoders = serve.LiveDecoders()
    serve.install(decoders)  # the routes of app.py now answer: pages may decode in the browser
    model = await asyncio.to_thread(warm_up, sys.argv[1:])
    if model is not None:
        # The decoder for the browser: read from the cache, or exported in the background on a
        # checkpoint's first run (seconds), so the server answers at once; pages decode on the server
        # until it is ready, then switch to live by themselves.
        decoders.start_export(model)
        decoders.default = model.key  # pages of this checkpoint fetch its decoder from their HTML's first line
    try:
        yield
    finally:
        serve.install(None)
        decoders.close()
