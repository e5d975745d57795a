"""Drawing the views of ``explorer.urlstate.VIEWS`` (the one list of them). A view's module is imported when
it is first drawn, so opening the app does not wait for Plotly or pandas before the first faces."""
from __future__ import annotations

import importlib

from explorer.urlstate import View


def module(view: View):
    return importlib.import_module(f"explorer.ui.{view.module}")


def draw(view: View, model) -> None:
    getattr(module(view), view.function)(model)
