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


# --------------------------------------------------------------------------------------------
# Curves that show a run
# --------------------------------------------------------------------------------------------

def _curve_traces(at) -> list[dict]:
    import json

    chart = next(c for c in at.get("plotly_chart") if c.proto.id and "curves" in c.proto.id)
    return json.loads(chart.proto.spec)["data"]


def _one_epoch_run(tmp_path, step_rows_in_history: bool):
    """A checkpoint trained for one epoch of 100 steps, logged every 10: per-step rows in its history, or in
    the run folder that python -m train writes beside it."""
    import torch

    path = make_checkpoint_file(tmp_path / "run1.pt", latent_dim=8)
    data = torch.load(path, weights_only=True)
    steps = [{"step": s, "train_nelbo": -100.0 - s, "train_kl": 5.0 + s / 10, "train_mse": 0.1 / s}
             for s in range(10, 101, 10)]
    epoch = {"epoch": 1, "step": 100, "train_nelbo": -150.0, "val_nelbo": -140.0, "train_kl": 10.0, "val_kl": 11.0,
             "train_mse": 0.01, "val_mse": 0.012, "sigma": 0.3}
    data["history"] = (steps if step_rows_in_history else []) + [epoch]
    data["summary"]["likelihood_sigma"] = 0.3
    torch.save(data, path)
    if not step_rows_in_history:
        run = tmp_path / "run1_run"
        run.mkdir()
        lines = ["step,epoch,train_nelbo,train_kl,train_mse,val_nelbo"]
        lines += [f"{r['step']},1,{r['train_nelbo']},{r['train_kl']},{r['train_mse']}," for r in steps]
        lines += ["100,1,-150,10,0.01,-140"]  # the epoch's row, already in the history
        (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    return path


def test_diagnostics_plot_per_step_curves_and_say_what_the_sign_means(start, tmp_path):
    for in_history in (True, False):
        path = _one_epoch_run(tmp_path / str(in_history), in_history)
        at = ok(start("--checkpoint", str(path), view="diagnostics"))
        traces = _curve_traces(at)
        per_step = [t for t in traces if t["mode"] == "lines"]
        assert len(per_step) == 3, in_history  # negative ELBO, KL, MSE
        assert per_step[0]["x"] == list(range(10, 101, 10)) and per_step[0]["y"][0] == -110.0
        epoch_points = [t for t in traces if t["mode"] == "lines+markers"]
        assert {t["x"][0] for t in epoch_points} == {100}  # the epoch sits at its step on the same axis
        text = " ".join(c.value for c in at.main.caption)
        assert "σ = 0.3" in text and "below zero" in text and f"{3 * 32 * 32:,} × (log σ + ½ log 2π)" in text
    # the tiny checkpoint of test_app: three epochs, no per-step log, and it says so
    traces = _curve_traces(ok(start(view="diagnostics")))
    assert traces and all(t["mode"] == "lines+markers" for t in traces)


def test_a_run_folder_that_cannot_be_read_is_named(start, tmp_path):
    path = make_checkpoint_file(tmp_path / "run2.pt", latent_dim=8)
    (tmp_path / "run2_run").mkdir()
    (tmp_path / "run2_run" / "metrics.csv").write_bytes(b"step,train_nelbo\n\xff\xfe\x00bad")
    at = ok(start("--checkpoint", str(path), view="diagnostics"))
    assert any("metrics.csv: cannot be read" in c.value for c in at.main.caption)
