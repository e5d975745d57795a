"""AppTest runs of every view against a tiny checkpoint made here (no dataset, no dev file)."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.analysis.bundle import AnalysisBundle
from explorer.celeba import ATTRIBUTE_NAMES
from explorer.checkpoint import atomic_torch_save, make_checkpoint
from explorer.config import PreprocessConfig, VAEConfig
from explorer.latent import mean_difference_directions
from explorer.model import VAE

ROOT = Path(__file__).resolve().parents[2]
PIL_MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS  # PIL's default, read before any test could change it
PAGE = ROOT / "explorer" / "ui" / "page.py"  # the script each session runs (app.py serves it)
SMILING = ATTRIBUTE_NAMES.index("Smiling")


def make_checkpoint_file(path, n_rows: int = 300, latent_dim: int = 8, image_size: int = 32, bundle: bool = True,
                         seed: int = 0) -> Path:
    """A random VAE and a synthetic analysis bundle in which Smiling moves dimension 0 and Male dimension 1,
    and Wearing_Hat comes in two kinds (explorer.analysis.kinds) that move dimensions 4 and 5; the last quarter of
    the dimensions are inactive. Also used by the browser test and the bench."""
    torch.manual_seed(seed)
    channels = {32: (4, 8, 8), 64: (8, 16, 16, 16)}[image_size]
    model = VAE(VAEConfig(image_size=image_size, latent_dim=latent_dim, channels=channels)).eval()
    # Calibrate BatchNorm on random data: left at initialisation, every decoded pixel is a flat 0.5 grey
    # whatever z is, and a test could not see a face change.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        model.train()
        model.decode(torch.randn(256, latent_dim))
        model.encode(torch.rand(64, 3, image_size, image_size))
        model.eval()
    b = None
    if bundle:
        rng = np.random.default_rng(seed)
        attrs = (rng.random((n_rows, 40)) < 0.3).astype(np.uint8)
        mu = rng.standard_normal((n_rows, latent_dim)).astype(np.float32)
        mu[:, 0] += 1.5 * attrs[:, SMILING]
        mu[:, 1] -= 1.0 * attrs[:, ATTRIBUTE_NAMES.index("Male")]
        hat = attrs[:, ATTRIBUTE_NAMES.index("Wearing_Hat")] == 1
        hat_kinds = np.where(hat, (rng.random(n_rows) < 0.4).astype(np.int8), -1).astype(np.int8)
        mu[:, 4] += 1.0 * (hat_kinds == 0)
        mu[:, 5] += 1.0 * (hat_kinds == 1)
        mu[:, latent_dim - latent_dim // 4:] *= 0.02
        kl_dim = np.linspace(3.0, 0.0, latent_dim).astype(np.float32)[rng.permutation(latent_dim)]
        d = mean_difference_directions(mu, attrs)
        b = AnalysisBundle(
            mu=mu, attributes=attrs, partition=np.full(n_rows, 1, np.uint8),
            recon_mse=rng.random(n_rows).astype(np.float32) * 0.02, kl_per_image=rng.random(n_rows).astype(np.float32) * 50,
            kl_per_dim=kl_dim, mu_variance=mu.var(0), directions=d, directions_balanced=d * 0.9,
            pca=mu[:, :2].copy(), tsne=(mu[:, 2:4] * 3).copy(), filenames=[f"{i + 1:06d}.jpg" for i in range(n_rows)],
            attribute_names=list(ATTRIBUTE_NAMES), info={"splits": ["valid"], "images": n_rows, "tsne_backend": "test"},
            kinds={"Wearing_Hat": hat_kinds})
    history = [{"epoch": e, "train_nelbo": 100.0 / e, "val_nelbo": 110.0 / e, "train_kl": 10.0 + e, "val_kl": 11.0 + e,
                "train_mse": 0.05 / e, "val_mse": 0.06 / e} for e in (1, 2, 3)]
    summary = {"epochs": 3, "seconds": 120.0, "final_metrics": history[-1]}
    ckpt = make_checkpoint(model, PreprocessConfig(image_size=image_size), ATTRIBUTE_NAMES, summary, history, bundle=b)
    atomic_torch_save(ckpt, path)
    return Path(path)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer import catalog  # noqa: E402
from explorer.ui import models as ui_models  # noqa: E402
from explorer import uploads, urlstate  # noqa: E402
from explorer.ui.diagnostics import collapse_message  # noqa: E402
from explorer.ui.mapview import map_figure, selected_rows  # noqa: E402

D = 16  # enough dimensions that some sliders sit behind the expander


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return make_checkpoint_file(tmp_path_factory.mktemp("ckpt") / "tiny.pt", latent_dim=D)


@pytest.fixture
def start(ckpt, monkeypatch, tmp_path):
    """start(**query_params) -> a run AppTest on the tiny checkpoint (checkpoints/ is an empty folder)."""
    empty = tmp_path / "checkpoints"
    empty.mkdir()
    monkeypatch.setattr(catalog, "CHECKPOINT_DIR", empty)

    def _start(*argv, **params):
        monkeypatch.setattr(sys, "argv", ["app.py", *(argv or ("--checkpoint", str(ckpt)))])
        at = AppTest.from_file(str(PAGE), default_timeout=60)
        for k, v in params.items():
            at.query_params[k] = str(v)
        return at.run()
    return _start


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def images(at: AppTest) -> list[str]:
    """URLs of the images in the main area (content-hashed: a changed face has a new URL)."""
    return [u for im in at.main.get("image") for u in im.value]


def image_captions(at: AppTest) -> str:
    return " | ".join(c for im in at.main.get("image") for c in im.captions)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Every view
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("view", urlstate.VIEW_IDS)  # the one list of views: a new view is tested here too
def test_every_view_runs(start, view):
    at = ok(start(view=view))
    assert at.session_state["vs"].view == view
    assert [t.label for t in at.tabs] == [v.label for v in urlstate.VIEWS]
    assert at.tabs[urlstate.VIEW_IDS.index(view)].label
    if view not in ("map", "reconstruct", "diagnostics"):
        assert images(at)
        assert at.get("download_button")


def test_sample_widgets_change_the_faces_and_the_url(start):
    at = ok(start(density="prior"))  # N(0, τ²I); the fitted density's carry-on: test_app_density.py
    grid = images(at)[0]
    at.number_input(key="sample_seed").set_value(5).run()
    assert images(at)[0] != grid and at.query_params["seed"] == "5"
    button(at, "New batch").click().run()
    assert at.query_params["seed"] == "6"
    at.slider(key="sample_tau").set_value(0.3).run()
    at.slider(key="sample_n").set_value(4).run()
    assert at.query_params["tau"] == "0.3" and at.query_params["n"] == "4"
    at.number_input(key="sample_pick").set_value(3).run()
    button(at, "Use as base face").click().run()
    ok(at)
    assert at.query_params["base"] == "sample:6:2:0.3"
    assert "sample #3 of seed 6" in at.sidebar.markdown[0].value


def test_sliders_move_the_face_and_reset(start):
    at = ok(start(view="sliders"))
    face, strip = images(at)[:2]
    top = int(np.argmax(torch.load(at_ckpt(at), weights_only=True)["bundle"]["kl_per_dim"].numpy()))
    assert at.slider[0].label.startswith(f"z{top} ")  # most informative first
    assert len(at.slider) == 12  # the rest wait behind the expander
    at.slider(key=f"dim_{top}").set_value(2.5).run()
    ok(at)
    # the strip traverses that same dimension, so only the face changes
    assert images(at)[0] != face and images(at)[1] == strip
    assert at.query_params["dims"] == f"{top}:2.5"
    second = at.slider[1].key
    at.slider(key=second).set_value(-1.0).run()
    assert images(at)[1] != strip and at.query_params["dims"].count(":") == 2
    button(at, "Reset").click().run()
    assert images(at)[0] == face and "dims" not in at.query_params
    other = int(at.selectbox(key="trav_dim").options[3].split()[0][1:])
    at.selectbox(key="trav_dim").set_value(other).run()
    assert images(at)[1] != strip and at.query_params["dim"] == str(other)


def at_ckpt(at: AppTest) -> str:
    return sys.argv[sys.argv.index("--checkpoint") + 1]


def test_a_link_reproduces_the_same_image(start):
    at = ok(start(view="sliders"))
    at.radio(key="base_kind").set_value("sample").run()
    at.slider(key=at.slider[1].key).set_value(-1.35).run()
    at.number_input(key="base_seed").set_value(9).run()
    at.slider(key=at.slider[0].key).set_value(0.7).run()
    params, face = dict(at.query_params), images(at)[0]
    assert set(params) >= {"view", "base", "dims"}
    again = ok(start(**params))
    assert images(again)[0] == face and dict(again.query_params) == params


def test_malformed_url_falls_back_and_says_so(start):
    at = start(view="sliders", seed="abc", dims="999:1,3:oops", base="row:99999", tau="-1", ckpt="../../etc/x.pt")
    assert not at.exception and not at.error
    text = " ".join(w.value for w in at.warning)
    for name in ("seed=", "dims=", "base=", "tau=", "ckpt="):
        assert name in text
    s = at.session_state["vs"]
    assert s.view == "sliders" and s.seed == 0 and s.dims == {}
    assert set(at.query_params) == {"view"}  # the cleaned state replaces the bad link


def test_map_colouring_rows_and_lasso(start):
    at = ok(start(view="map"))
    assert at.get("plotly_chart")
    for colour in ("kl", "Male", "none"):
        at.selectbox(key="map_color").set_value(colour).run()
        ok(at)
    assert at.query_params["color"] == "none"
    at.number_input(key="map_row").set_value(5).run()
    ok(at)
    assert at.query_params["point"] == "5" and "row 5" in image_captions(at)
    at.session_state["map_rows"] = [1, 2, 3, 7]
    at.run()
    assert "mean of 4 selected" in image_captions(at)
    at.button(key="map_lasso_base").click().run()
    assert ok(at).query_params["base"].startswith("z:")


def test_map_figure_carries_row_ids_in_every_trace(ckpt):
    from explorer import load_checkpoint

    b = load_checkpoint(ckpt).bundle
    fig = map_figure(b.pca, "Smiling", b)
    assert len(fig.data) == 2 and all(t.type == "scattergl" for t in fig.data)
    rows = np.concatenate([np.asarray(t.customdata) for t in fig.data])
    assert sorted(rows.tolist()) == list(range(len(b)))
    smiling = np.asarray(fig.data[1].customdata)
    assert b.attributes[smiling, SMILING].all()
    assert len(map_figure(b.tsne, "kl", b).data) == 1
    event = {"selection": {"points": [{"curve_number": 1, "point_index": 0, "customdata": 17},
                                      {"curve_number": 0, "point_index": 0, "customdata": [4]}]}}
    assert selected_rows(event) == [17, 4] and selected_rows(None) == []


def test_arithmetic_edits_analogies_and_trust_table(start):
    at = ok(start(view="arithmetic"))
    before = images(at)[0]
    at.multiselect(key="arith_attrs").set_value(["Smiling"]).run()
    ok(at)
    assert images(at)[0] != before and at.query_params["edit"].startswith("Smiling:")
    at.slider(key="w_Smiling").set_value(-2.0).run()
    assert at.query_params["edit"] == "Smiling:-2"
    at.multiselect(key="arith_attrs").set_value(["Smiling", "Eyeglasses"]).run()
    assert list(at.session_state["vs"].edit) == ["Smiling", "Eyeglasses"]
    table = at.dataframe[0].value
    assert table.iloc[0]["attribute"] == "Smiling" and table.iloc[0]["AUC"] > 0.75  # synthetic: Smiling moves z0
    assert table.iloc[0]["AUC others fixed"] > 0.75
    edited = images(at)[0]
    at.segmented_control(key="arith_dir").set_value("balanced").run()  # "others fixed" is the default
    assert ok(at).query_params["direction"] == "balanced" and images(at)[0] != edited
    analogy = images(at)[-1]
    at.selectbox(key="analogy_a_kind").set_value("zero").run()
    ok(at)
    assert at.query_params["a"] == "zero" and images(at)[-1] != analogy


def test_an_edit_adds_one_kind_of_an_attribute_from_the_menu_or_a_link(start):
    """The synthetic bundle's hats come in two kinds that move dimensions 4 and 5: each kind is an edit of
    its own, with its own face, in the URL, and the gallery shows what each kind is."""
    at = ok(start(view="arithmetic", edit="Wearing_Hat.2:1.5"))
    assert at.session_state["vs"].edit == {"Wearing_Hat.2": 1.5}
    assert "+1.5·Wearing Hat, kind 2" in image_captions(at)
    assert {"Wearing Hat, kind 1", "Wearing Hat, kind 2", "Wearing Hat"} <= set(at.multiselect(key="arith_attrs").options)
    assert "Wearing Hat, kind 1: " in image_captions(at) and "Wearing Hat, kind 2: " in image_captions(at)
    second = images(at)[0]
    faces = set()
    for chosen in (["Wearing_Hat.1"], ["Wearing_Hat"]):
        at.multiselect(key="arith_attrs").set_value(chosen).run()
        ok(at)
        assert at.query_params["edit"].startswith(chosen[0] + ":")
        faces.add(images(at)[0])
    assert len(faces | {second}) == 3
    bad = ok(start(view="arithmetic", edit="Wearing_Hat.3:1"))  # the synthetic hats have two kinds
    assert bad.session_state["vs"].edit == {}
    assert any("Wearing_Hat.3" in w.value for w in bad.warning)


def test_interpolation_steps_and_end_face(start):
    at = ok(start(view="interpolate"))
    lerp, slerp = images(at)[-2:]
    assert lerp != slerp
    at.slider(key="interp_steps").set_value(5).run()
    at.selectbox(key="interp_end_kind").set_value("row").run()
    at.number_input(key="interp_end_row").set_value(4).run()
    ok(at)
    assert at.query_params["steps"] == "5" and at.query_params["end"] == "row:4"
    assert "lerp: |z| along the path" in image_captions(at)


def test_face_pickers_return_to_the_default_dataset_face(start):
    at = ok(start(view="interpolate"))
    default_end = at.session_state["vs_defaults"].end
    at.selectbox(key="interp_end_kind").set_value("zero").run()
    assert ok(at).query_params["end"] == "zero"
    at.selectbox(key="interp_end_kind").set_value("row").run()
    assert at.session_state["vs"].end == default_end and "end" not in ok(at).query_params


def _exif_rotated_jpeg() -> bytes:
    # left half red, right half blue; EXIF orientation 6 says "rotate 90° clockwise to display"
    arr = np.zeros((120, 160, 3), np.uint8)
    arr[:, :80] = (255, 0, 0)
    arr[:, 80:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return png(Image.fromarray(arr), "JPEG", exif=exif, quality=95)


def _png_bomb(w: int = 30000, h: int = 30000) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_upload_checks_each_failure_with_its_reason(monkeypatch):
    # PIL's own bomb limit is process-wide state; pin it to PIL's default so that this test checks the
    # app's limit whatever ran before it (big.png is under PIL's limit and over the app's).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PIL_MAX_IMAGE_PIXELS)
    assert 8000 * 6000 < PIL_MAX_IMAGE_PIXELS and 8000 * 6000 > uploads.MAX_PIXELS
    prep = lambda img: np.asarray(img.convert("RGB"))  # noqa: E731
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 160, 3), np.uint8))
    jpeg = png(photo, "JPEG")
    cases = {
        "notes.txt": (b"hello, not an image", "not an image"),
        "empty.png": (b"", "empty"),
        "cut.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "bomb.png": (_png_bomb(), "decompression bomb"),
        "big.png": (_png_bomb(8000, 6000), "8000×6000 pixels is more than the 40 megapixels accepted"),
        "anim.gif": (png(photo, "GIF"), "GIF images are not accepted"),
        "huge.jpg": (b"\xff" * (uploads.MAX_BYTES + 1), "MB"),
    }
    for name, (data, reason) in cases.items():
        with pytest.raises(uploads.UploadError, match=reason) as e:
            uploads.load_photo(data, name, prep)
        assert str(e.value).startswith(name)
    assert uploads.load_photo(jpeg, "ok.jpg", prep).shape == (200, 160, 3)


def test_reconstruction_of_uploads(start):
    at = ok(start(view="reconstruct"))
    rgba = Image.fromarray(np.full((50, 40, 4), 128, np.uint8))
    gray = Image.fromarray(np.full((64, 80), 90, np.uint8))
    files = [("face.png", png(rgba), "image/png"), ("gray.webp", png(gray, "WEBP"), "image/webp"),
             ("phone.jpg", _exif_rotated_jpeg(), "image/jpeg"), ("notes.png", b"plain text", "image/png"),
             ("bomb.png", _png_bomb(), "image/png")]
    at.file_uploader(key="recon_upload").set_value(files).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and errors[0].startswith("notes.png") and errors[1].startswith("bomb.png")
    # flat colours hold no face: each says so and offers its plain centre crop (faces: test_app_faces.py)
    assert len(at.warning) == 3 and images(at) == []
    for box in at.checkbox:
        box.check()
    at.run()
    assert len(images(at)) == 3
    at.button(key="recon_base_2").click().run()
    assert not at.exception and at.query_params["base"].startswith("z:")


def test_exif_orientation_is_applied_before_the_crop(ckpt):
    from explorer import load_checkpoint

    x = uploads.load_photo(_exif_rotated_jpeg(), "phone.jpg", load_checkpoint(ckpt).preprocess)
    red = x[0] - x[2]  # (S,S): +1 red, -1 blue
    # upright, the red half is on top: rows differ, columns do not
    assert red[:8].mean() > 0.8 and red[-8:].mean() < -0.8
    assert abs(red[:, :8].mean() - red[:, -8:].mean()) < 0.2


def _tiny_celeba(root: Path, n: int = 10) -> Path:
    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), np.uint8)).save(root / "img_align_celeba" / name)
        rows.append(name + " " + " ".join(rng.choice(["1", "-1"], 40)))
    (root / "list_attr_celeba.txt").write_text(f"{n}\n" + " ".join(ATTRIBUTE_NAMES) + "\n" + "\n".join(rows) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.jpg 0\n" for i in range(n)))
    return root


def test_reconstruction_of_dataset_faces(start, ckpt, tmp_path):
    data = _tiny_celeba(tmp_path / "celeba")
    at = ok(start("--checkpoint", str(ckpt), "--data-dir", str(data), view="reconstruct"))
    first = images(at)
    assert len(first) == 1 and "000001.jpg … 000008.jpg" in image_captions(at)
    at.number_input(key="recon_start").set_value(8).run()
    assert ok(at) and images(at) != first
    bad = start("--checkpoint", str(ckpt), "--data-dir", str(tmp_path / "nowhere"), view="reconstruct")
    assert not bad.exception and "--data-dir" in bad.error[0].value


def test_reconstruction_unites_several_data_folders(start, ckpt, tmp_path):
    a = _tiny_celeba(tmp_path / "a", n=10)
    b = _tiny_celeba(tmp_path / "b", n=14)                            # ids 1-10 repeat a's; 11-14 are new
    at = ok(start("--checkpoint", str(ckpt), "--data-dir", str(a), "--data-dir", str(b), view="reconstruct"))
    assert at.number_input(key="recon_start").label == "First image (of 14)"
    at.number_input(key="recon_start").set_value(8).run()
    assert "000009.jpg … 000014.jpg" in image_captions(ok(at))


def test_map_and_arithmetic_work_on_a_checkpoint_trained_on_a_train_only_folder(start, tmp_path):
    from celeba_fixtures import make_celeba
    from train.cli import main as train_main

    data = make_celeba(tmp_path / "trainonly", n=30, partitions=[0] * 30)
    out = tmp_path / "trainonly.pt"
    train_main(["--data-dir", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--epochs", "1",
                "--image-size", "32", "--latent-dim", "8", "--channels", "8,16,16", "--batch-size", "8",
                "--no-progress", "--device", "cpu", "--no-tsne"])
    at = ok(start("--checkpoint", str(out), view="map"))
    assert at.get("plotly_chart")
    at.selectbox(key="map_color").set_value("Male").run()
    ok(at)
    at = ok(start("--checkpoint", str(out), view="arithmetic"))
    at.multiselect(key="arith_attrs").set_value(["Smiling"]).run()
    # One epoch leaves the tiny model's decoder blind to z, so the face need not change; the view must run
    # on the train-split bundle and score every direction.
    assert ok(at).query_params["edit"].startswith("Smiling:") and images(at)
    assert len(at.dataframe[0].value) == 40


def test_diagnostics_report_active_units_and_collapse(start):
    at = ok(start(view="diagnostics"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Active units"] == f"{D - D // 4} / {D}"
    assert any("are active" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 2
    assert collapse_message(16, 16, 30.0) is None
    assert collapse_message(3, 16, 30.0)[0] == "warning"
    assert collapse_message(16, 16, 0.2)[0] == "error"


def test_checkpoint_without_bundle(start, tmp_path):
    path = make_checkpoint_file(tmp_path / "bare.pt", bundle=False)
    for view in ("sliders", "map", "arithmetic", "diagnostics"):
        at = ok(start("--checkpoint", str(path), view=view))
        if view in ("map", "diagnostics"):
            assert any("no analysis bundle" in i.value.lower() for i in at.info)


def test_bad_checkpoints_give_a_message_not_a_traceback(start, tmp_path):
    good = make_checkpoint_file(tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:2000])
    torch.save({"format": "vae-explorer-checkpoint", "x": np.float64(1.0)}, tmp_path / "pickled.pt")
    for name, reason in (("cut.pt", "damaged"), ("pickled.pt", "refused"), ("absent.pt", "cannot open")):
        at = start("--checkpoint", str(tmp_path / name))
        assert not at.exception
        assert "cannot be opened" in at.error[0].value and name in at.error[0].value and reason in at.error[0].value
    at = start("--no-such-flag")  # and no checkpoint anywhere
    assert not at.exception and "No checkpoint" in at.error[0].value


def test_checkpoint_picker_lists_only_files_inside_checkpoints(start, tmp_path, monkeypatch, ckpt):
    folder = tmp_path / "picker"
    folder.mkdir()
    make_checkpoint_file(folder / "celeba64.pt", latent_dim=16)
    make_checkpoint_file(folder / "other.pt", latent_dim=12)
    outside = make_checkpoint_file(tmp_path / "secret.pt")
    (folder / "link.pt").symlink_to(outside)
    monkeypatch.setattr(catalog, "CHECKPOINT_DIR", folder)
    assert list(catalog.checkpoint_choices(None)) == ["celeba64.pt", "other.pt"]
    monkeypatch.setattr(sys, "argv", ["app.py"])
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["ckpt"] = "other.pt"
    ok(at.run())
    assert at.selectbox(key="ckpt_pick").value == "other.pt" and at.session_state["vs"].ckpt == "other.pt"
    assert at.selectbox(key="ckpt_pick").options == ["celeba64.pt", "other.pt"]
    at.query_params.clear()
    at2 = AppTest.from_file(str(PAGE), default_timeout=60)
    at2.query_params.update(ckpt="link.pt", view="sliders", dims="15:1.5")
    at2.run()
    assert not at2.exception and at2.session_state["vs"].ckpt is None  # celeba64.pt, the default
    assert any("ckpt=" in w.value for w in at2.warning)
    # switching to a smaller model re-reads the link: dimension 15 no longer exists, and it says so
    at2.selectbox(key="ckpt_pick").set_value("other.pt").run()
    assert not at2.exception and at2.session_state["vs"].dims == {}
    assert any("dims=" in w.value for w in at2.warning)
    assert at2.query_params.get("ckpt") == "other.pt"


def test_the_model_is_loaded_once_for_many_sessions(start, tmp_path):
    path = make_checkpoint_file(tmp_path / "shared.pt")
    for _ in range(3):
        ok(start("--checkpoint", str(path), view="sliders"))
    assert ui_models.LOADS.count(str(path)) == 1


def test_app_py_serves_the_page_and_warms_up_before_the_first_visitor(start, tmp_path):
    from streamlit.web.server.app_discovery import discover_asgi_app

    from explorer.ui.server import warm_up

    assert discover_asgi_app(ROOT / "app.py").is_asgi_app  # `streamlit run app.py` starts st.App
    path = make_checkpoint_file(tmp_path / "warm.pt")
    warm_up(["--checkpoint", str(path)])
    assert ui_models.LOADS.count(str(path)) == 1
    ok(start("--checkpoint", str(path)))  # the first session finds the model loaded
    assert ui_models.LOADS.count(str(path)) == 1
    warm_up(["--checkpoint", str(tmp_path / "missing.pt")])  # a bad checkpoint does not stop the server


def test_fresh_page_opens_on_real_faces_that_stay_out_of_the_url(start):
    at = ok(start())
    s = at.session_state["vs"]
    assert {s.base.kind, s.a.kind, s.b.kind, s.c.kind, s.end.kind} == {"row"}
    assert s.base.index != s.end.index
    assert dict(at.query_params) == {}  # defaults are not written into the link
    bad = ok(start(view="sliders", base="row:99999"))  # a broken face falls back to the same default
    assert bad.session_state["vs"].base == s.base and "base=" in " ".join(w.value for w in bad.warning)


def test_sidebar_base_face_sources(start):
    at = ok(start(view="sliders"))
    at.radio(key="base_kind").set_value("zero").run()
    assert ok(at).query_params["base"] == "zero"
    at.radio(key="base_kind").set_value("row").run()
    assert at.session_state["vs"].base == at.session_state["vs_defaults"].base  # back to the default face
    assert "base" not in ok(at).query_params
    at.number_input(key="base_row").set_value(7).run()
    assert ok(at).query_params["base"] == "row:7"
    at.radio(key="base_kind").set_value("photo").run()
    at.file_uploader(key="base_photo").set_value(("notes.jpg", b"not a photo", "image/jpeg")).run()
    assert not at.exception and at.sidebar.error[0].value.startswith("notes.jpg")
    assert at.query_params["base"] == "row:7"  # unchanged
    face = Image.fromarray(np.random.default_rng(1).integers(0, 255, (90, 70, 3), np.uint8))
    at.file_uploader(key="base_photo").set_value(("me.jpg", png(face, "JPEG"), "image/jpeg")).run()
    at.button(key="base_photo_centre").click().run()  # noise holds no face: the picker asks first (issue 29)
    assert ok(at).query_params["base"].startswith("z:") and "an encoded photo" in at.sidebar.markdown[0].value
