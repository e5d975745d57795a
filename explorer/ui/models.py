"""Loading a checkpoint once per server: every session shares the model (``st.cache_resource``), and the
long-lived objects of the imports and of each model are moved out of the garbage collector's sight."""
from __future__ import annotations

import gc
import sys
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import CheckpointError, load_checkpoint
from explorer.ui.common import Model

LOADS: list[str] = []  # every checkpoint load in this process; the bench checks that 8 sessions share one
LOADED: set[tuple] = set()  # (path, stamp) of every model loaded: a page shows no spinner for those


def freeze_long_lived() -> None:
    """Imports (torch above all) and each loaded model leave a few hundred thousand objects that live as long
    as the server. Frozen, the garbage collector stops walking them in the full collections that a rerun's
    allocations trigger (measured in Chromium on 2 busy cores, slider move to new face: median 118-140 ->
    95-103 ms, p90 230-260 -> 150 ms). Called after the imports (the first page) and after each new model, a
    handful of times per server, never per rerun: collected first, so no cyclic garbage of a rerun is frozen."""
    gc.collect()
    gc.freeze()


_frozen_imports = False


def freeze_imports_once() -> None:
    global _frozen_imports
    if not _frozen_imports:
        freeze_long_lived()
        _frozen_imports = True


# No spinner in the cache decorator: the server's warm-up (explorer/ui/server.py) loads the model from a
# thread without a page, where drawing a spinner made Streamlit log "missing ScriptRunContext!" at every
# start. load_model draws it, in a page, for a file not loaded yet.
@st.cache_resource(max_entries=4, show_spinner=False)
def _load(path: str, stamp: tuple) -> Model:
    """Once per checkpoint file version for the whole server: every session shares the model."""
    vae = load_checkpoint(path, device="cpu")
    LOADS.append(path)
    print(f"[explorer] loaded checkpoint {path} (load #{len(LOADS)} in this process)", file=sys.stderr, flush=True)
    model = Model(vae, key=f"{path}:{stamp}")
    LOADED.add((path, stamp))
    freeze_long_lived()  # the model's tensors live as long as the server
    return model


def load_model(path: Path) -> Model:
    try:
        st_ = path.stat()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot open ({e.strerror or e})") from None
    key = (str(path), (st_.st_mtime_ns, st_.st_size))
    if key in LOADED or get_script_run_ctx(suppress_warning=True) is None:
        return _load(*key)
    with st.spinner("Loading the model…"):
        return _load(*key)
