"""See inside a VAE trained on CelebA faces.

    streamlit run app.py                                      # opens checkpoints/celeba64.pt
    streamlit run app.py -- --checkpoint PATH [--data-dir CELEBA_DIR]

This file only sets up the server. Before it answers, explorer/ui/server.py imports torch and loads the
default checkpoint, so the first visitor waits no longer than the next; each browser session then runs
explorer/ui/page.py. The views live in explorer/ui, the math in explorer (latent.py, urlstate.py).
"""
import streamlit as st
from starlette.middleware import Middleware

from explorer.ui.live.serve import BootScript, routes
from explorer.ui.server import lifespan

# routes(): the in-browser decoder's files (ONNX Runtime Web and the exported decoder), served by this app
# itself, so the page asks no other host for anything. BootScript: the page starts that runtime from its
# first line, while Streamlit's own code still loads.
app = st.App("explorer/ui/page.py", lifespan=lifespan, routes=routes(), middleware=[Middleware(BootScript)])
