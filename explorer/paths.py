"""The one folder this project keeps things in between runs: the training cache of decoded images, the ONNX
decoders the page runs, the map's decoded faces. ``$EXPLORER_CACHE_DIR`` names it; without it, the user's
cache folder (``$XDG_CACHE_HOME``, else ``~/.cache``) holds a ``vae-explorer`` folder. The dataset folders
are never written to (``../shared`` is read-only)."""
from __future__ import annotations

import os
from pathlib import Path

ENV = "EXPLORER_CACHE_DIR"


def cache_root() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer"
