"""AppTests of what a practitioner reaches for (issue 29): folders of runs in the checkpoint picker, readouts
that say which way a dimension goes, a run's curves, the map as a search tool, directions of one's own."""
from __future__ import annotations

import sys

import numpy as np
from streamlit.testing.v1 import AppTest

from explorer.ui import main as ui_main
from test_app import D, PAGE, ckpt, make_checkpoint_file, ok, start  # noqa: F401


# --------------------------------------------------------------------------------------------
# Checkpoints from runs
# --------------------------------------------------------------------------------------------

def test_checkpoint_dirs_add_runs_by_name_and_keep_links_inside(tmp_path, monkeypatch):
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    make_checkpoint_file(shipped / "celeba64.pt", latent_dim=8)
    runs, other = tmp_path / "a" / "runs", tmp_path / "b" / "runs"  # two folders with the same name
    (runs / "exp1").mkdir(parents=True)
    other.mkdir(parents=True)
    make_checkpoint_file(runs / "celeba64.pt", latent_dim=12)  # the shipped file's name again
    make_checkpoint_file(runs / "exp1" / "model.pt", latent_dim=10)
    make_checkpoint_file(other / "celeba64.pt", latent_dim=6)
    secret = make_checkpoint_file(tmp_path / "secret.pt")
    (runs / "link.pt").symlink_to(secret)
    (runs / "out").symlink_to(tmp_path, target_is_directory=True)  # a subfolder that leads outside
    monkeypatch.setattr(ui_main, "CHECKPOINT_DIR", shipped)
    choices = ui_main.checkpoint_choices(None, (runs, other))
    assert list(choices) == ["celeba64.pt", "runs/celeba64.pt", "runs/exp1/model.pt", "runs~2/celeba64.pt"]
    assert choices["runs/exp1/model.pt"] == (runs / "exp1" / "model.pt").resolve()

    monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint-dir", str(runs), "--checkpoint-dir", str(other)])
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params.update(ckpt="runs/exp1/model.pt", view="sliders")
    ok(at.run())
    assert at.selectbox(key="ckpt_pick").value == "runs/exp1/model.pt"
    assert at.selectbox(key="ckpt_pick").options == list(choices)
    assert "10 latent dimensions" in at.sidebar.caption[0].value
    at.selectbox(key="ckpt_pick").set_value("runs~2/celeba64.pt").run()
    assert ok(at).query_params["ckpt"] == "runs~2/celeba64.pt" and "6 latent dimensions" in at.sidebar.caption[0].value
    # a link names checkpoints as the picker does: a path, a link out of the folder, a name not offered
    for wanted in ("runs/link.pt", "runs/out/secret.pt", "../secret.pt", str(secret), "runs/../celeba64.pt"):
        bad = AppTest.from_file(str(PAGE), default_timeout=60)
        bad.query_params.update(ckpt=wanted)
        bad.run()
        assert not bad.exception and bad.session_state["vs"].ckpt is None, wanted  # the default, celeba64.pt
        assert any("ckpt=" in w.value for w in bad.warning)


# --------------------------------------------------------------------------------------------
# Dimension readouts
# --------------------------------------------------------------------------------------------

def _readout(at) -> str:
    return next(c.value for c in at.main.caption if "predicts best" in c.value)


def test_dimension_readout_says_which_way_the_relation_goes(start):
    """The synthetic bundle: Smiling raises z0, Male lowers z1. Before, z1's readout was "Male (0.23)",
    which reads like a weak positive relation."""
    at = ok(start(view="dimattr", dim=1))
    male = _readout(at)
    assert male.startswith("z1 predicts best: Male ↓ (AUC 0.") and "lower z1" in male
    auc = float(male.split("(AUC ")[1].split(")")[0])
    assert auc < 0.4
    at.segmented_control(key="dimattr_score").set_value("corr").run()
    assert _readout(ok(at)).startswith("z1 predicts best: Male ↓ (r -0.")
    at = ok(start(view="dimattr", dim=0))
    assert _readout(at).startswith("z0 predicts best: Smiling ↑ (AUC 0.")
