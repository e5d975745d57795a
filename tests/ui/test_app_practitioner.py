"""AppTests of what a practitioner reaches for (issue 29): folders of runs in the checkpoint picker, readouts
that say which way a dimension goes, a run's curves, the map as a search tool, directions of one's own."""
from __future__ import annotations

import sys

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import catalog
from explorer.ui import models as ui_models
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
    monkeypatch.setattr(catalog, "CHECKPOINT_DIR", shipped)
    choices = catalog.checkpoint_choices(None, (runs, other))
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


def test_no_checkpoint_anywhere_names_the_folders_it_looked_in(start, tmp_path):
    empty = tmp_path / "runs"
    empty.mkdir()
    at = start("--checkpoint-dir", str(empty))
    assert not at.exception and f"nor does {empty}" in at.error[0].value and "--checkpoint-dir" in at.error[0].value


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
    return _arrays(json.loads(chart.proto.spec)["data"])


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


# --------------------------------------------------------------------------------------------
# The map as a search tool
# --------------------------------------------------------------------------------------------

def _arrays(obj):
    """Plotly's JSON writes numeric arrays as {"bdata": base64, "dtype": ...}: back to plain lists."""
    import base64

    if isinstance(obj, dict) and "bdata" in obj and "dtype" in obj:
        return np.frombuffer(base64.b64decode(obj["bdata"]), np.dtype(obj["dtype"])).tolist()
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_arrays(v) for v in obj]
    return obj


def _map_traces(at) -> list[dict]:
    import json

    return _arrays(json.loads(at.get("plotly_chart")[0].proto.spec)["data"])


def _bundle(at):
    from explorer import load_checkpoint

    return load_checkpoint(sys.argv[sys.argv.index("--checkpoint") + 1]).bundle


def test_map_highlights_by_attribute_and_row_and_finds_a_file(start):
    from explorer.celeba import ATTRIBUTE_NAMES

    at = ok(start(view="map"))
    b = _bundle(at)
    smiling, male = (b.attributes[:, ATTRIBUTE_NAMES.index(n)] == 1 for n in ("Smiling", "Male"))
    at.multiselect(key="map_hl_attrs").set_value(["Smiling", "-Male"]).run()
    want = np.flatnonzero(smiling & ~male)
    assert ok(at).query_params["hl"] == "Smiling,-Male"
    top = _map_traces(at)[-1]
    assert top["name"] == f"highlighted ({len(want)})" and sorted(top["customdata"]) == want.tolist()
    assert any(f"{len(want)} of {len(b)} faces highlighted" in c.value for c in at.main.caption)
    at.text_input(key="map_hl_rows").input("3, 10-12").run()
    assert ok(at).query_params["hl"] == "Smiling,-Male,3,10-12"
    assert sorted(_map_traces(at)[-1]["customdata"]) == sorted(set(want.tolist()) | {3, 10, 11, 12})
    at.text_input(key="map_hl_rows").input("12-5").run()  # a backwards range: said, and nothing changes
    assert any("Highlight rows" in w.value for w in ok(at).warning) and at.query_params["hl"] == "Smiling,-Male,3,10-12"
    at.text_input(key="map_find").input("000008.jpg").run()
    assert ok(at).session_state["vs"].point == 7 and at.query_params["point"] == "7"
    assert "row 7: 000008.jpg" in " ".join(c for im in at.main.get("image") for c in im.captions)
    at.text_input(key="map_find").input("nobody.png").run()
    assert any("No face 'nobody.png'" in w.value for w in ok(at).warning) and at.session_state["vs"].point == 7
    again = ok(start(view="map", hl="Eyeglasses,3"))  # a link restores the highlight
    assert again.multiselect(key="map_hl_attrs").value == ["Eyeglasses"] and again.text_input(key="map_hl_rows").value == "3"


def test_map_colours_by_typicality(start):
    from explorer.ui.mapview import encodings_typicality

    at = ok(start(view="map"))
    at.selectbox(key="map_color").set_value("typ").run()
    assert ok(at).query_params["color"] == "typ"
    trace = _map_traces(at)[0]
    b = _bundle(at)
    values = np.asarray(trace["marker"]["color"], np.float64)
    assert np.allclose(values, encodings_typicality(b)[trace["customdata"]])
    # the encodings' own percentiles spread over 0..100 (scored as outside points, each would be its own
    # nearest neighbour, at distance 0, and every one at 100)
    assert values.min() < 5 and values.max() == 100 and 40 < np.median(values) < 60
    # the most typical encoding sits where the encodings are dense: nearer the centre than the least typical
    assert np.linalg.norm(b.mu[np.argmax(values)]) < np.linalg.norm(b.mu[np.argmin(values)])


# --------------------------------------------------------------------------------------------
# Directions of your own
# --------------------------------------------------------------------------------------------

def test_two_groups_on_the_map_make_a_named_direction_kept_in_the_link(start):
    """Group A: a lasso of faces without Smiling; group B: the faces the map highlights as smiling. In the
    synthetic bundle Smiling adds 1.5 to z0, so the direction A → B is about +1.5 along z0."""
    from explorer.celeba import ATTRIBUTE_NAMES

    at = ok(start(view="map"))
    b = _bundle(at)
    smiling = b.attributes[:, ATTRIBUTE_NAMES.index("Smiling")] == 1
    not_smiling = np.flatnonzero(~smiling)[:60].tolist()
    at.session_state["map_rows"] = not_smiling  # what a lasso leaves (test_app checks the lasso itself)
    at.run()
    at.button(key="dir_group_A").click().run()
    at.session_state["map_rows"] = None
    at.multiselect(key="map_hl_attrs").set_value(["Smiling"]).run()
    at.button(key="dir_group_B").click().run()
    assert any("group A: 60 faces · group B: " in c.value for c in ok(at).main.caption)
    at.text_input(key="dir_name").input("Smiling").run()  # taken by an attribute
    at.button(key="dir_make").click().run()
    assert "already the name" in at.error[0].value and at.session_state["vs"].mine == {}
    at.text_input(key="dir_name").input("grin").run()
    at.button(key="dir_make").click().run()
    s = ok(at).session_state["vs"]
    want = b.mu[smiling].mean(0) - b.mu[not_smiling].mean(0)
    assert np.allclose(s.mine["grin"], want, atol=2e-3) and 1.0 < want[0] < 2.0
    assert s.edit["grin"] == 1.0 and at.query_params["mine"].startswith("grin~")
    assert "edit" in at.query_params and "grin:1" in at.query_params["edit"]

    # the link opens the arithmetic view with the direction applied, and it can be taken away
    link = dict(at.query_params, view="arithmetic")
    arith = ok(start(**link))
    assert arith.session_state["vs"].mine == s.mine and arith.session_state["vs"].edit["grin"] == 1.0
    assert "grin" in arith.multiselect(key="arith_attrs").value
    face_with = _main_images(arith)[0]
    arith.multiselect(key="arith_attrs").set_value([]).run()
    assert ok(arith).session_state["vs"].edit == {} and _main_images(arith)[0] != face_with


def _main_images(at) -> list[str]:
    return [u for im in at.main.get("image") for u in im.value]


def test_directions_download_as_npy_and_upload_with_a_clear_error(start, served):
    import io

    from explorer.ui import arithmetic

    at = ok(start(view="arithmetic"))
    at.selectbox(key="dir_export").set_value("Smiling").run()
    data = ok(at).get("download_button")
    button = next(d for d in data if d.proto.id and "dir_export_dl" in d.proto.id)
    v = np.load(io.BytesIO(served(button)))
    model = ui_models.load_model(Path(sys.argv[sys.argv.index("--checkpoint") + 1]))
    kind = at.session_state["vs"].direction  # the page's kind of directions is what downloads
    assert v.shape == (D,) and np.allclose(v, arithmetic.directions(model, kind)[model.edit_names.index("Smiling")])

    def upload(name, payload):
        at.file_uploader(key="dir_import").set_value((name, payload, "application/octet-stream")).run()
        at.button(key="dir_import_add").click().run()

    def npy(a):
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    for name, payload, reason in (("short.npy", npy(np.ones(D - 1)), f"shape ({D - 1},); this model's directions have shape ({D},)"),
                                  ("text.npy", b"not numpy at all", "not a .npy array"),
                                  ("objects.npy", npy(np.array([{"a": 1}], dtype=object)), "refused"),
                                  ("nan.npy", npy(np.full(D, np.nan)), "non-finite")):
        upload(name, payload)
        assert not at.exception and any(e.value.startswith(name) and reason in e.value for e in at.error), name
        assert at.session_state["vs"].mine == {}
    mine = np.zeros(D, np.float32)
    mine[3] = 2.0
    upload("fringe.npy", npy(mine[None]))  # (1, D) is accepted too; the name comes from the file
    s = ok(at).session_state["vs"]
    assert np.allclose(s.mine["fringe"], mine) and s.edit["fringe"] == 1.0 and at.query_params["mine"].startswith("fringe~")
    at.button(key="dir_remove_fringe").click().run()
    assert ok(at).session_state["vs"].mine == {} and "mine" not in at.query_params


@pytest.fixture
def served(monkeypatch):
    """served(button) -> the bytes a download button serves. AppTest's runtime (and its media storage) lives
    only during a run, so what is stored is recorded here: eager data by file id, a lazy button's callable
    by its placeholder id (called as a click in the browser would)."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files, lazy = {}, {}
    store, defer = MemoryMediaFileStorage.load_and_get_id, MediaFileManager.add_deferred

    def load(self, data, *a, **k):
        fid = store(self, data, *a, **k)
        files[fid] = data
        return fid

    def add_deferred(self, fn, *a, **k):
        fid = defer(self, fn, *a, **k)
        lazy[fid] = fn
        return fid

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)

    def get(button) -> bytes:
        if button.proto.deferred_file_id:
            return lazy[button.proto.deferred_file_id]()
        return files[button.proto.url.rsplit("/", 1)[1].split(".")[0]]
    return get


# --------------------------------------------------------------------------------------------
# Kinds named by what they look like
# --------------------------------------------------------------------------------------------

def _painting_decoder(size: int = 32):
    """A decoder that paints the hat region (top 40 %) grey at 0.5 + 0.4·z0 and the band of the eyes at
    0.5 + 0.4·z1: what a kind looks like is then known from its mean encoding."""
    def decode(z):
        z = np.asarray(z, np.float32)
        img = np.full((len(z), 3, size, size), 0.5, np.float32)
        img[:, :, : int(0.40 * size)] = np.clip(0.5 + 0.4 * z[:, 0], 0, 1)[:, None, None, None]
        img[:, :, int(0.34 * size): int(0.62 * size)] = np.clip(0.5 + 0.4 * z[:, 1], 0, 1)[:, None, None, None]
        return img
    return decode


def test_kinds_are_named_by_the_colour_their_region_is_drawn_in():
    from explorer.analysis import kinds
    from explorer.celeba import ATTRIBUTE_NAMES

    n = 120
    hat, glasses = ATTRIBUTE_NAMES.index("Wearing_Hat"), ATTRIBUTE_NAMES.index("Eyeglasses")
    attrs = np.zeros((n, 40), np.uint8)
    attrs[:60, hat] = 1
    attrs[60:90, glasses] = 1
    mu = np.zeros((n, 4), np.float32)
    hat_kinds = np.full(n, -1, np.int8)
    hat_kinds[:20], hat_kinds[20:40], hat_kinds[40:60] = 0, 1, 2
    mu[:20, 0], mu[20:40, 0], mu[40:60, 0] = -0.8, 0.8, 0.05  # dark, light, like a bare head
    glass_kinds = np.full(n, -1, np.int8)
    glass_kinds[60:70], glass_kinds[70:80], glass_kinds[80:90] = 0, 1, 2
    mu[60:70, 1], mu[70:80, 1], mu[80:90, 1] = -0.6, 0.0, -0.2  # eye band 0.26, 0.5, 0.42
    labels = {"Wearing_Hat": hat_kinds, "Eyeglasses": glass_kinds}
    # a face without glasses has z1 = 0, so its eye band is drawn at 0.5 like the clear glasses'
    looks = kinds.looks(_painting_decoder(), mu, attrs, ATTRIBUTE_NAMES, labels)
    assert looks == {"Wearing_Hat.1": "dark hat", "Wearing_Hat.2": "light hat",
                     "Eyeglasses.1": "sunglasses", "Eyeglasses.2": "clear glasses", "Eyeglasses.3": "tinted glasses"}
    assert [kinds.label(f"Wearing_Hat.{k}", looks) for k in (1, 2, 3)] == \
        ["Wearing Hat: dark hat", "Wearing Hat: light hat", "Wearing Hat, kind 3"]
    assert kinds.label("Eyeglasses.1", looks) == "Eyeglasses: sunglasses" and kinds.label("Smiling", looks) == "Smiling"
    # two kinds that look alike keep their numbers apart; kinds drawn alike are not named at all
    assert kinds.label("Eyeglasses.1", {"Eyeglasses.1": "clear glasses", "Eyeglasses.2": "clear glasses"}) == \
        "Eyeglasses: clear glasses (kind 1)"
    mu[:, :2] *= 0.05
    assert kinds.looks(_painting_decoder(), mu, attrs, ATTRIBUTE_NAMES, labels) == {}


def test_the_shipped_models_kinds_read_as_what_they_look_like_and_old_links_still_work(start):
    from conftest import ROOT

    shipped = ROOT / "checkpoints" / "celeba64.pt"
    at = ok(start("--checkpoint", str(shipped), view="arithmetic", edit="Eyeglasses.3:1.5,Wearing_Hat.1:1"))
    assert at.session_state["vs"].edit == {"Eyeglasses.3": 1.5, "Wearing_Hat.1": 1.0}  # a link of before
    options = at.multiselect(key="arith_attrs").options
    assert {"Eyeglasses: sunglasses", "Wearing Hat: dark hat", "Wearing Hat: light hat"} <= set(options)
    captions = " | ".join(c for im in at.main.get("image") for c in im.captions)
    assert "+1.5·Eyeglasses: sunglasses" in captions and "Wearing Hat: light hat: " in captions


# --------------------------------------------------------------------------------------------
# Example photos to reconstruct without a dataset
# --------------------------------------------------------------------------------------------

def test_example_photos_are_found_aligned_and_reconstructed_like_uploads(start):
    """Each shipped example holds one face: the view aligns it (as it does an upload), credits its source,
    reconstructs it, and it can become the base face."""
    from explorer.faces import photos

    at = ok(start(view="reconstruct"))
    pills = at.button_group(key="recon_examples")
    assert set(pills.options) >= {"Astronaut", "Grace Hopper"}
    pills.set_value(list(photos.PHOTOS)).run()
    ok(at)
    captions = " | ".join(c for im in at.main.get("image") for c in im.captions)
    for name, credit in photos.PHOTOS.items():
        assert f"example: {name}, the face: model input · reconstruction" in captions
        assert any(c.value == credit for c in at.main.caption)
    assert captions.count("aligned like CelebA") == len(photos.PHOTOS) and not at.warning  # a face in each
    at.button(key="recon_base_0").click().run()
    assert ok(at).query_params["base"].startswith("z:")
    with pytest.raises(KeyError, match="not one of the example photos"):
        photos.read("../../checkpoints/celeba64.pt")


# --------------------------------------------------------------------------------------------
# Stage mode (the keys are driven in Chromium: test_browser_stage.py)
# --------------------------------------------------------------------------------------------

def test_stage_mode_enters_from_the_sidebar_keeps_the_face_and_leaves(start):
    import json

    at = ok(start(view="sliders"))
    model = ui_models.load_model(Path(sys.argv[sys.argv.index("--checkpoint") + 1]))
    top = [int(d) for d in model.order[:8]]
    at = ok(start(view="sliders", dims=f"{top[2]}:1.5", dim=top[1]))
    next(b for b in at.sidebar.button if b.label == "Stage mode").click().run()
    assert ok(at).query_params["stage"] == "1" and not at.tabs
    data = json.loads(at.main.get("bidi_component")[0].proto.json)
    assert [c["id"] for c in data["controls"]] == top and data["selected"] == top[1]
    assert data["controls"][2]["value"] == 1.5 and len(data["frames"]) == 24
    at.button(key="stage_leave").click().run()
    assert "stage" not in ok(at).query_params and at.tabs and at.query_params["dims"] == f"{top[2]}:1.5"
    linked = ok(start(stage="1", dims=f"{top[2]}:1.5"))  # a link opens the stage on the same face
    assert json.loads(linked.main.get("bidi_component")[0].proto.json)["face"] == data["face"]


def test_a_new_edit_starts_at_the_smallest_step_the_checkpoints_classifier_sees(start):
    """The shipped model carries an attribute classifier: a newly chosen attribute starts at the smallest share
    of its class gap (explorer.latent.EDIT_SEEN_SHARES) at which that classifier sees the edit on this face, not
    at twice the gap; checked here against the classifier itself, on the decoded faces."""
    from conftest import ROOT
    from explorer import latent
    from explorer.analysis import typicality
    from explorer.ui import arithmetic

    shipped = ROOT / "checkpoints" / "celeba64.pt"
    model = ui_models.load_model(shipped)
    clf, names = model.bundle.classifier, model.edit_names
    for attribute, key, sign in (("Smiling", "arith_attrs", 1), ("Smiling", "arith_minus", -1)):
        at = ok(start("--checkpoint", str(shipped), view="arithmetic"))
        at.multiselect(key=key).set_value([attribute]).run()
        s = ok(at).session_state["vs"]
        chosen = s.edit[attribute]
        d = arithmetic.directions(model, s.direction)[names.index(attribute)]
        base = model.z_of(s.base)
        gap = float(np.linalg.norm(arithmetic.directions(model, "mean")[names.index(attribute)]))
        p = lambda w: clf.probabilities(model.vae.decode(latent.edit(base, d[None], [w])[None]))[0, clf.attribute_names.index(attribute)]  # noqa: E731
        seen = lambda w: p(w) > latent.EDIT_SEEN_P if sign > 0 else p(w) < 1 - latent.EDIT_SEEN_P  # noqa: E731
        typical = lambda w: typicality.percentile(model.bundle, latent.edit(base, d[None], [w]))[0] >= typicality.ATYPICAL  # noqa: E731
        assert np.sign(chosen) == sign and seen(chosen) and typical(chosen), (attribute, sign, chosen, p(chosen))
        smaller = [sign * round(sh * gap * 4) / 4 for sh in latent.EDIT_SEEN_SHARES if round(sh * gap * 4) / 4 < abs(chosen)]
        assert not any(seen(w) and typical(w) for w in smaller), (attribute, sign, chosen, smaller)
        assert abs(chosen) < latent.EDIT_START_SHARES[0] * gap  # this face shows it before twice the gap
