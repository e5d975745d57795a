"""AppTest of the scorecard (Diagnostics), the two scorecards side by side (Compare), an edit's side effects
(arithmetic view) and the judged traversals (Dimensions × attributes)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import load_checkpoint
from explorer.analysis import scorecard as sc
from explorer.celeba import ATTRIBUTE_NAMES
from explorer.checkpoint import atomic_torch_save, read_checkpoint_dict
from explorer.analysis.classifier import AttributeClassifier, AttributeCNN
from explorer import catalog
from test_app import PAGE, make_checkpoint_file, ok

D = 8


def add_judge(path, scorecard: dict | None = None):
    """Give a checkpoint's bundle an attribute classifier (an untrained CNN: its probabilities still move
    when the face does, which is all a view needs) and, when given, a stored scorecard."""
    torch.manual_seed(0)
    clf = AttributeClassifier(AttributeCNN(40, 8).eval(), list(ATTRIBUTE_NAMES), 32, np.full(40, 0.8, np.float32),
                              {"trained_on": 250, "held_out": 50, "held_out_from": "the valid partition"})
    data = read_checkpoint_dict(path)
    data["bundle"]["classifier"] = clf.to_plain()
    if scorecard is not None:
        data["bundle"]["scorecard"] = scorecard
    atomic_torch_save(data, path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = tmp_path_factory.mktemp("scorecard_app")
    add_judge(make_checkpoint_file(f / "a.pt", latent_dim=D))
    make_checkpoint_file(f / "b.pt", latent_dim=D, seed=1)  # no classifier, no stored scorecard
    return f


@pytest.fixture
def start(folder, monkeypatch):
    def _start(checkpoint="a.pt", **params):
        monkeypatch.setattr(catalog, "CHECKPOINT_DIR", folder)
        monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint", str(folder / checkpoint)])
        at = AppTest.from_file(str(PAGE), default_timeout=60)
        for k, v in params.items():
            at.query_params[k] = str(v)
        return at.run()
    return _start


def test_diagnostics_show_the_scorecard_with_a_line_per_metric(start, folder):
    at = ok(start(view="diagnostics"))
    table = at.dataframe[0].value.set_index("metric")
    card = sc.compute_scorecard(load_checkpoint(folder / "a.pt").bundle)
    assert set(sc.KEYS) <= set(table.index)
    assert table.loc["MIG", "value"] == f"{card['MIG']:.3f}" and table.loc["active_units", "value"] == f"6 / {D}"
    assert table.loc["SAP", "what it means"].startswith("Separated attribute predictability")
    assert any("Computed from the bundle" in c.value for c in at.caption)


def test_a_stored_scorecard_is_shown_as_stored(start, tmp_path, monkeypatch):
    stored = {"MIG": 0.125, "SAP": 0.25, "DCI_disentanglement": 0.5, "DCI_completeness": 0.375,
              "DCI_informativeness": 0.75, "active_units": 5, "latent_dim": D, "faces": 300, "attributes": 40}
    path = add_judge(make_checkpoint_file(tmp_path / "s.pt", latent_dim=D), stored)
    monkeypatch.setattr(catalog, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint", str(path)])
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["view"] = "diagnostics"
    table = ok(at.run()).dataframe[0].value.set_index("metric")["value"]
    assert table["MIG"] == "0.125" and table["DCI_informativeness"] == "0.750" and table["active_units"] == f"5 / {D}"
    assert any("Stored in the checkpoint" in c.value for c in at.caption)


def test_compare_shows_both_scorecards_side_by_side(start, folder):
    at = ok(start(view="compare"))
    assert len(at.dataframe) == 2  # the diagnostics table, then the scorecards
    table = at.dataframe[1].value.set_index("metric")
    assert list(table.columns) == ["A: a.pt (command line)", "B: b.pt", "better"]
    ca = sc.compute_scorecard(load_checkpoint(folder / "a.pt").bundle)
    cb = sc.compute_scorecard(load_checkpoint(folder / "b.pt").bundle)
    assert table.loc["MIG"].tolist() == [f"{ca['MIG']:.3f}", f"{cb['MIG']:.3f}", sc.better("MIG", ca["MIG"], cb["MIG"])]
    assert table.loc["active_units", "better"] == ""  # a property, not a score
    udr, faces = sc.shared_udr(load_checkpoint(folder / "a.pt").bundle, load_checkpoint(folder / "b.pt").bundle)
    assert faces == 300 and table.loc["UDR similarity of A and B"].iloc[0] == f"{udr:.3f}"
    assert any(sc.comparison_text(ca, cb, "A", "B") in m.value for m in at.markdown)


def test_the_arithmetic_view_judges_the_edit_intended_first(start, folder):
    at = ok(start(view="arithmetic", edit="Smiling:1.5,Male:-1"))
    line = next(m.value for m in at.markdown if m.value.startswith("**What the edit changes**"))
    said = line.split(": ", 1)[1]
    assert said.startswith("Smiling ") and said.split(", ")[1].startswith("Male ") and len(said.split(", ")) == 5
    rows = at.table[0].value
    assert len(rows) == 40 and rows["intended"].tolist()[:3] == ["yes", "yes", ""]
    # the numbers are the classifier's on the two decoded faces
    vae = load_checkpoint(folder / "a.pt")
    b = vae.bundle
    z0 = b.mu[at.session_state["vs"].base.index]
    edited = rows.set_index("attribute")
    p0 = b.classifier.probabilities(vae.decode(z0[None]))[0]
    assert edited.loc["Smiling", "before"] == f"{p0[ATTRIBUTE_NAMES.index('Smiling')]:.2f}"
    changes = [abs(float(c)) for c in rows["change"].tolist()[2:]]
    assert changes == sorted(changes, reverse=True)  # the unintended ones, largest first


def test_views_say_in_one_line_when_there_is_no_classifier(start):
    at = ok(start("b.pt", view="arithmetic", edit="Smiling:1.5"))
    assert any(c.value.startswith("This checkpoint carries no attribute classifier") for c in at.caption)
    assert not at.table
    at = ok(start("b.pt", view="dimattr"))
    assert any(c.value.startswith("This checkpoint carries no attribute classifier") for c in at.caption)


def test_dimattr_judges_each_dimensions_traversal(start):
    at = ok(start(view="dimattr", heat=D))
    table = at.dataframe[0].value
    assert len(table) == D and list(table.columns) == ["dimension", "decoded, −3 → +3, moves",
                                                       "its encodings predict best (AUC)"]
    # the synthetic bundle puts Smiling on z0: its encodings say so whatever the decoder draws
    assert table.set_index("dimension").loc["z0", "its encodings predict best (AUC)"].startswith("Smiling")
    at.slider(key="dimattr_heat").set_value(3).run()
    assert len(ok(at).dataframe[0].value) == 3  # one row per dimension in the heatmap
    line = next(m.value for m in at.markdown if "from −3 to +3 on the base face changes" in m.value)
    assert len(line.split(": ", 1)[1].split(", ")) == 3
