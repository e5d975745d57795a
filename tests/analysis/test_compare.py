"""Comparing two checkpoints: explorer.analysis.compare on its own, then the view in AppTest."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer import load_checkpoint
from explorer.analysis import compare
from explorer import catalog
from test_app import PAGE, image_captions, images, make_checkpoint_file, ok, png


def test_shared_faces_match_rows_by_file_name():
    s = compare.shared_faces(["a.jpg", "b.jpg", "c.jpg", "b.jpg"], ["c.jpg", "x.jpg", "b.jpg"])
    assert s.filenames == ["b.jpg", "c.jpg"] and s.rows_a.tolist() == [1, 2] and s.rows_b.tolist() == [2, 0]
    assert s.rows_of("c.jpg") == (2, 0)
    with pytest.raises(KeyError, match="a.jpg"):
        s.rows_of("a.jpg")
    assert len(compare.shared_faces(["a.jpg"], [])) == 0


def test_gap_edit_is_in_each_models_class_gaps():
    z = np.zeros(4, np.float32)
    gap = np.array([2.0, 0, 0, 0], np.float32)
    np.testing.assert_allclose(compare.gap_edit(z, gap, 1.5), [3.0, 0, 0, 0])
    np.testing.assert_allclose(compare.gap_edit(z, gap * 0.1, 1.5), [0.3, 0, 0, 0])  # a tighter model moves less


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """checkpoints/ holding two models that differ in latent size and in how many faces their bundles hold."""
    folder = tmp_path_factory.mktemp("pair")
    make_checkpoint_file(folder / "a16.pt", latent_dim=16, n_rows=300)
    make_checkpoint_file(folder / "b8.pt", latent_dim=8, n_rows=200, seed=1)
    return folder


def test_diagnostics_table_rows(pair):
    a, b = load_checkpoint(pair / "a16.pt"), load_checkpoint(pair / "b8.pt")
    shared = compare.shared_faces(a.bundle.filenames, b.bundle.filenames)
    assert len(shared) == 200
    da = compare.diagnostics(a.bundle, 16, 32, a.summary, shared.rows_a)
    db = compare.diagnostics(b.bundle, 8, 32, b.summary, shared.rows_b)
    assert da.active_units == 12 and db.active_units == 6  # make_checkpoint_file: the last quarter is inactive
    assert da.mse == pytest.approx(float(a.bundle.recon_mse.mean()))
    assert da.mse_shared == pytest.approx(float(a.bundle.recon_mse[:200].mean()))
    assert da.aucs["Smiling"] > 0.75 and db.aucs["Smiling"] > 0.75  # the synthetic bundles put Smiling on z0
    rows = {r[0]: r[1:] for r in compare.comparison_rows(da, db)}
    assert rows["latent dimensions"] == ("16", "8", "")
    assert rows["active units"] == ("12 / 16", "6 / 8", "")
    better_mse = "A" if da.mse_shared < db.mse_shared else "B"
    assert rows["reconstruction MSE (shared faces)"][2] == better_mse
    empty = compare.diagnostics(None, 32, 64, {"epochs": 3})
    assert np.isnan(empty.kl_per_image) and dict(r[:2] for r in compare.comparison_rows(empty, empty))["epochs"] == "3"


@pytest.fixture
def start_cmp(pair, monkeypatch):
    def _start(folder=pair, **params):
        monkeypatch.setattr(catalog, "CHECKPOINT_DIR", folder)
        monkeypatch.setattr(sys, "argv", ["app.py"])
        at = AppTest.from_file(str(PAGE), default_timeout=60)
        at.query_params["view"] = "compare"
        for k, v in params.items():
            at.query_params[k] = str(v)
        return at.run()
    return _start


def test_compare_defaults_to_the_first_two_checkpoints(start_cmp):
    at = ok(start_cmp())
    assert at.selectbox(key="cmp_pick_cmpa").value == "a16.pt" and at.selectbox(key="cmp_pick_cmpb").value == "b8.pt"
    assert dict(at.query_params) == {"view": "compare"}  # the default pair, face and edit stay out of the link
    captions = " ".join(c.value for c in at.caption)
    assert "latent sizes differ (16 and 8 dimensions)" in captions
    assert len(images(at)) == 2 and len(at.get("download_button")) == 2
    table = at.dataframe[0].value
    assert list(table.columns) == ["measure", "A: a16.pt", "B: b8.pt", "better"]
    assert table.set_index("measure").loc["active units"].tolist() == ["12 / 16", "6 / 8", ""]
    assert "000001.jpg" in at.selectbox(key="cmp_face").options and len(at.selectbox(key="cmp_face").options) == 200


def test_compare_widgets_change_faces_and_url_and_a_link_restores_them(start_cmp):
    at = ok(start_cmp())
    samples, face = images(at)
    at.number_input(key="cmp_seed").set_value(7).run()
    assert ok(at).query_params["seed"] == "7" and images(at)[0] != samples and images(at)[1] == face
    at.selectbox(key="cmp_face").set_value("000042.jpg").run()
    assert ok(at).query_params["cmpface"] == "000042.jpg" and images(at)[1] != face
    face42 = images(at)[1]
    at.selectbox(key="cmp_attr").set_value("Male").run()
    at.slider(key="cmp_w").set_value(-2.0).run()
    assert ok(at).query_params["cmpattr"] == "Male" and at.query_params["cmpw"] == "-2"
    assert images(at)[1] != face42 and "Male at -1, -2 class gaps" in image_captions(at)
    at.selectbox(key="cmp_pick_cmpb").set_value("a16.pt").run()
    assert ok(at).query_params["cmpb"] == "a16.pt"
    assert "same checkpoint" in " ".join(c.value for c in at.caption)
    params, shown = dict(at.query_params), images(at)
    again = ok(start_cmp(**{k: v for k, v in params.items() if k != "view"}))
    assert images(again) == shown and dict(again.query_params) == params


def test_compare_refuses_bad_links_with_a_message(start_cmp):
    at = start_cmp(cmpa="../../etc/passwd.pt", cmpb="nothere.pt", cmpface="999999.jpg", cmpattr="Wings", cmpw="9")
    assert not at.exception and not at.error
    text = " ".join(w.value for w in at.warning)
    for name in ("cmpa=", "cmpb=", "cmpface=", "cmpattr=", "cmpw="):
        assert name in text
    s = at.session_state["vs"]
    assert (s.cmpa, s.cmpb, s.cmpface, s.cmpattr, s.cmpw) == (None, None, None, "Smiling", 1.0)
    assert dict(at.query_params) == {"view": "compare"}


def test_compare_with_one_checkpoint_compares_it_with_itself(start_cmp, tmp_path):
    make_checkpoint_file(tmp_path / "only.pt", latent_dim=8)
    at = ok(start_cmp(folder=tmp_path))
    assert at.selectbox(key="cmp_pick_cmpa").value == at.selectbox(key="cmp_pick_cmpb").value == "only.pt"
    assert any("compared with itself" in i.value for i in at.info)
    samples = at.main.get("image")[0]
    assert "Both models decode the very same" in " ".join(c.value for c in at.caption)
    assert samples.value


def test_compare_encodes_an_uploaded_photo_with_both_models(start_cmp):
    at = ok(start_cmp())
    face = Image.fromarray(np.random.default_rng(3).integers(0, 255, (90, 70, 3), np.uint8))
    at.file_uploader(key="cmp_photo").set_value(("me.jpg", png(face, "JPEG"), "image/jpeg")).run()
    assert "me.jpg, as each model preprocesses it" in image_captions(ok(at))
    at.file_uploader(key="cmp_photo").set_value(("notes.jpg", b"not a photo", "image/jpeg")).run()
    assert not at.exception and at.error[0].value.startswith("notes.jpg")


def test_default_pair_counts_a_file_once(tmp_path):
    from explorer.ui.compare import default_pair

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.touch()
    b.touch()
    (tmp_path / "link.pt").symlink_to(a)
    assert default_pair({"": tmp_path / "link.pt", "a.pt": a, "b.pt": b}) == ("", "b.pt")
    assert default_pair({"a.pt": a, "b.pt": b}) == ("a.pt", "b.pt")
    assert default_pair({"a.pt": a}) == ("a.pt", "a.pt")
    # the shipped default comes first when it is offered, whatever the names sort as
    c = tmp_path / "celeba64.pt"
    c.touch()
    assert default_pair({"a.pt": a, "celeba64.pt": c}) == ("celeba64.pt", "a.pt")


def test_compare_a_checkpoint_without_bundle(start_cmp, tmp_path):
    make_checkpoint_file(tmp_path / "a.pt", latent_dim=8)
    make_checkpoint_file(tmp_path / "b.pt", latent_dim=8, bundle=False)
    at = ok(start_cmp(folder=tmp_path))
    assert any("share no encoded dataset face" in i.value for i in at.info)
    assert any("without an analysis bundle" in i.value for i in at.info)
    assert len(images(at)) == 1  # the samples; no shared face until a photo is uploaded
    rows = at.dataframe[0].value.set_index("measure")
    assert rows.loc["KL per image (nats)"].tolist()[1:] == ["–", ""]
    face = Image.fromarray(np.random.default_rng(4).integers(0, 255, (80, 80, 3), np.uint8))
    at.file_uploader(key="cmp_photo").set_value(("me.png", png(face), "image/png")).run()
    assert len(images(ok(at))) == 2 and "unedited" in image_captions(at)


def test_the_command_line_checkpoint_is_offered_only_as_a_default(pair, monkeypatch):
    monkeypatch.setattr(catalog, "CHECKPOINT_DIR", pair)
    extra = make_checkpoint_file(pair.parent / "cli.pt", latent_dim=8)
    monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint", str(extra)])
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["view"] = "compare"
    ok(at.run())
    assert at.selectbox(key="cmp_pick_cmpa").value == "" and at.selectbox(key="cmp_pick_cmpb").value == "a16.pt"
    assert at.selectbox(key="cmp_pick_cmpb").options == ["a16.pt", "b8.pt"]
    assert dict(at.query_params) == {"view": "compare"}
