"""The registry of views, in tab order. A view's module is imported when it is first drawn, so opening
the app does not wait for Plotly or pandas before the first faces."""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    id: str  # as in the URL (explorer.urlstate.VIEWS)
    label: str
    target: str  # "module:function" in explorer.ui

    def module(self):
        return importlib.import_module(f"explorer.ui.{self.target.split(':')[0]}")

    def draw(self, model) -> None:
        getattr(self.module(), self.target.split(":")[1])(model)


# Labels short enough that all ten tabs fit the tab bar at 1280×720 (a projector) beside the sidebar: with
# "Attribute arithmetic", "Dimensions × attributes" and "Compare checkpoints" the last two hid behind an arrow.
VIEWS = (
    View("sample", "Sample", "sample:sample_view"),
    View("sliders", "Latent sliders", "sliders:sliders_view"),
    View("map", "Map", "mapview:map_view"),
    View("arithmetic", "Arithmetic", "arithmetic:arithmetic_view"),
    View("interpolate", "Interpolation", "interpolate:interpolate_view"),
    View("reconstruct", "Reconstruction", "reconstruct:reconstruct_view"),
    View("diagnostics", "Diagnostics", "diagnostics:diagnostics_view"),
    View("dimattr", "Dims × attributes", "dimattr:dimattr_view"),
    View("holes", "Prior holes", "holes:holes_view"),
    View("compare", "Compare", "compare:compare_view"),
)
