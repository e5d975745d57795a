"""AppTest runs of the fitted-density sampling, the Dimensions × attributes view and the Prior holes view,
on tiny checkpoints made here (tests/ui/test_app.py builds them), with and without the optional bundle fields."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import load_checkpoint
from explorer.analysis import priorcheck
from explorer.checkpoint import atomic_torch_save
from explorer.analysis.density import fit_density
from explorer.ui import dimattr
from test_app import D, SMILING, button, ckpt, image_captions, images, make_checkpoint_file, ok, start  # noqa: F401
from test_app_newuser import captions


@pytest.fixture(scope="module")
def full_ckpt(tmp_path_factory):
    """A checkpoint whose bundle carries the optional fields: the density and E[σ²] per dimension."""
    path = make_checkpoint_file(tmp_path_factory.mktemp("full") / "full.pt", latent_dim=D)
    data = torch.load(path, weights_only=True)
    mu = data["bundle"]["mu"].float().numpy()
    data["bundle"]["density"] = fit_density(mu, n_components=3).to_plain()
    data["bundle"]["posterior_var_mean"] = torch.linspace(0.2, 0.9, D)
    atomic_torch_save(data, path)
    return path


def test_optional_bundle_fields_round_trip_and_old_bundles_still_load(ckpt, full_ckpt):
    old = load_checkpoint(ckpt).bundle
    assert old.density is None and old.posterior_var_mean is None
    new = load_checkpoint(full_ckpt).bundle
    assert new.density.n_components == 3 and new.density.dim == D
    np.testing.assert_allclose(new.posterior_var_mean, np.linspace(0.2, 0.9, D), rtol=1e-6)
    again = type(new).from_plain(new.to_plain())
    np.testing.assert_array_equal(again.density.chol, new.density.chol)
    np.testing.assert_array_equal(again.posterior_var_mean, new.posterior_var_mean)
    bad = new.to_plain()
    bad["posterior_var_mean"] = torch.ones(D + 1)
    with pytest.raises(ValueError, match="posterior_var_mean"):
        type(new).from_plain(bad)


def test_sample_view_draws_from_the_fitted_density(start):
    at = ok(start(density="prior"))
    prior = images(at)[0]
    assert at.query_params["density"] == "prior"
    at.segmented_control(key="sample_density").set_value("fitted").run()
    ok(at)
    assert "density" not in at.query_params and images(at)[0] != prior  # the default stays out of the link
    assert "fitted density" in image_captions(at)
    assert [d.label for d in at.get("download_button")]  # the grid downloads as PNG
    fitted = images(at)[0]
    at.number_input(key="sample_seed").set_value(3).run()
    assert images(ok(at))[0] != fitted
    # a fitted face is carried as the fitted density's seed, number and τ (not as "an encoded photo")
    at.number_input(key="sample_pick").set_value(2).run()
    button(at, "Use as base face").click().run()
    assert ok(at).query_params["base"].startswith("fitted:3:1:")
    # the link restores the same grid
    again = ok(start(**dict(at.query_params), view="sample"))
    assert images(again)[0] == images(at)[0]
    at.segmented_control(key="sample_density").set_value("prior").run()
    assert ok(at).query_params["density"] == "prior"


def test_the_first_look_is_the_measured_default(start):
    """The Sample view opens on the source and τ that bench_quality measured nearest real faces (the fitted
    density at τ = 1), and says so; a checkpoint whose bundle cannot fit one falls back to N(0, I)."""
    at = ok(start())
    assert at.segmented_control(key="sample_density").value == "fitted"
    assert at.session_state["vs"].tau == 1.0
    assert "Gaussian mixture fitted to the encoded faces" in captions(at)
    assert "fitted density, seed 0, τ = 1" in image_captions(at)


def test_dimattr_view_heatmap_traversal_and_grid(start):
    at = ok(start(view="dimattr"))
    assert len(at.get("plotly_chart")) == 1
    assert len(images(at)) == 2 and len(at.get("download_button")) == 2
    strip, grid = images(at)
    caption = image_captions(at)
    assert "Traversal grid: rows" in caption
    at.slider(key="dimattr_grid").set_value(3).run()
    ok(at)
    assert at.query_params["grid"] == "3" and images(at)[1] != grid and images(at)[0] == strip
    at.slider(key="dimattr_heat").set_value(8).run()
    assert ok(at).query_params["heat"] == "8"
    at.segmented_control(key="dimattr_score").set_value("corr").run()
    assert ok(at).query_params["score"] == "corr"
    # choosing a dimension (what a click on a cell does) traverses it, and the link keeps it
    other = int(at.selectbox(key="dimattr_dim").options[4].split()[0][1:])
    at.selectbox(key="dimattr_dim").set_value(other).run()
    ok(at)
    assert at.query_params["dim"] == str(other) and images(at)[0] != strip
    assert f"z{other} from −3 to +3" in image_captions(at)
    # a click on the chart arrives as a selection event in session state; the callback reads customdata
    assert dimattr.selected_dim({"selection": {"points": [{"customdata": 5, "x": 2, "y": 7}]}}) == 5
    assert dimattr.selected_dim({"selection": {"points": [{"customdata": [6]}]}}) == 6
    assert dimattr.selected_dim(None) is None


def test_dimattr_heatmap_puts_planted_dimensions_where_they_belong(ckpt):
    b = load_checkpoint(ckpt).bundle  # the synthetic bundle: Smiling raises dimension 0
    from explorer.analysis import dimscores

    table = dimscores.score_table(b.mu, b.attributes, "auc")
    dims = list(range(D))
    fig = dimattr.heatmap_figure(table, dims, b.attribute_names, "auc", selected=0)
    heat, cells = fig.data
    assert np.asarray(heat.z).shape == (40, D)
    assert np.asarray(heat.z)[SMILING, 0] > 0.75
    # every cell carries its dimension, row by row (attributes) and column by column (dimensions)
    assert np.asarray(cells.customdata).reshape(40, D)[SMILING, 0] == 0
    assert len(fig.layout.shapes) == 1  # the selected column is outlined


def test_prior_holes_view_old_and_new_bundles(start, full_ckpt):
    at = ok(start(view="holes"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean ‖z‖ under the prior"] == f"{priorcheck.chi_mean(D):.2f}"
    assert "10-component" in image_captions(at)  # fitted here, from the bundle's encodings
    assert any("does not store the mean posterior variance" in i.value for i in at.info)
    assert "Prior samples far from all μ" in metrics  # only the density of the means is known
    assert len(at.get("plotly_chart")) == 2
    assert len(images(at)) == 2 and len(at.get("download_button")) == 2
    prior, fitted = images(at)
    assert prior != fitted
    at.number_input(key="holes_seed").set_value(4).run()
    ok(at)
    assert at.query_params["seed"] == "4" and images(at)[0] != prior and images(at)[1] != fitted
    full = ok(start("--checkpoint", str(full_ckpt), view="holes"))
    assert not any("does not store" in i.value for i in full.info)
    assert "Prior samples in holes of q(z)" in {m.label for m in full.metric}  # judged against q(z)
    assert any("Aggregate variance" in c.value for c in full.caption)
    assert "3-component" in image_captions(full)  # the mixture stored in the bundle, not a new fit


def test_new_views_without_a_bundle_say_so(start, tmp_path):
    bare = make_checkpoint_file(tmp_path / "bare.pt", bundle=False)
    for view in ("dimattr", "holes"):
        at = ok(start("--checkpoint", str(bare), view=view))
        assert any("no analysis bundle" in i.value.lower() for i in at.info)
    at = ok(start("--checkpoint", str(bare), density="fitted"))
    assert images(at)  # falls back to the prior, the control is disabled


def test_bad_new_url_parameters_fall_back(start):
    at = start(view="dimattr", density="gmm", score="gini", heat="0", grid="99")
    assert not at.exception and not at.error
    text = " ".join(w.value for w in at.warning)
    for name in ("density=", "score=", "heat=", "grid="):
        assert name in text
    s = at.session_state["vs"]
    assert (s.density, s.score, s.heat, s.grid) == ("fitted", "auc", 32, 8)
