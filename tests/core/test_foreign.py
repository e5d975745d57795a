"""Your own VAE in the explorer (explorer.foreign, python -m train.export --onnx / --torch), with models that
are not ours (tests/foreign_models.py): an MLP VAE at 32x32, D = 8, through two ONNX files (decoder batch
fixed at 1), and a conv VAE at 64x64, D = 12, ending in tanh on [-1,1], through --torch with Lightning-style
weights. Each is built, fitted a little and exported inside the test; every view runs on both in AppTest."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from celeba_fixtures import make_celeba
from foreign_models import ConvVAE, MLPVAE, build_conv, fit
from explorer import CheckpointError, load_checkpoint
from explorer.config import PreprocessConfig
from explorer.onnx_export import INPUT, OUTPUT, decoder_onnx
from train import export

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parents[1]  # tests/, where the helper modules are


class _Call(torch.nn.Module):
    """One method of a model as forward(), for torch.onnx.export."""

    def __init__(self, model, method: str, pick=None):
        super().__init__()
        self.model, self.method, self.pick = model, method, pick

    def forward(self, x):
        out = getattr(self.model, self.method)(x)
        return out if self.pick is None else self.pick(out)


def to_onnx(module, example, path: Path, names, dynamic: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=4096)},)} if dynamic else {}
        torch.onnx.export(module, (example,), str(path), input_names=[names[0]], output_names=list(names[1:]),
                          dynamo=True, verbose=False, **kw)
    return path


def images01(data_dir, size: int, crop=(148 / 178, 1.0)) -> torch.Tensor:
    from explorer.celeba import open_celeba
    from train.prepare import load_or_build_cache

    pre = PreprocessConfig(image_size=size, crop_fraction=crop[0], crop_aspect=crop[1])
    cache = load_or_build_cache(open_celeba([str(data_dir)]), pre, data_dir.parent / "cache", progress=False)
    return torch.from_numpy(cache.images).float() / 255


def run_export(*args) -> Path:
    export.main([str(a) for a in args])
    return Path(args[args.index("--out") + 1])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Both foreign models, their files, and the checkpoints python -m train.export made of them."""
    root = tmp_path_factory.mktemp("foreign")
    data = make_celeba(root / "data", n=48, seed=3)
    cache = root / "cache"
    # 1. The MLP through ONNX: encoder with a dynamic batch, decoder fixed at batch 1 (external weights file)
    torch.manual_seed(1)
    mlp = fit(MLPVAE(32, 8), images01(data, 32))
    enc = to_onnx(_Call(mlp, "encode"), torch.zeros(2, 3, 32, 32), root / "enc.onnx", ("pixels", "mu", "logvar"), True)
    dec = to_onnx(_Call(mlp, "decode"), torch.zeros(1, 8), root / "dec.onnx", ("latent", "rgb"), False)
    onnx_ckpt = run_export("--onnx", enc, dec, "--image-size", 32, "--data-dir", data, "--out", root / "theirs-onnx.pt",
                           "--cache-dir", cache, "--device", "cpu")
    # 2. The conv model through --torch, as a user's module in the current directory, with Lightning's prefix
    user = root / "user"
    user.mkdir()
    shutil.copy(HERE / "foreign_models.py", user / "theirvae.py")
    conv = fit(build_conv(), images01(data, 64), to_model=lambda x: 2 * x - 1, from_model=lambda y: (y + 1) / 2)
    weights = root / "vae.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in conv.state_dict().items()}}, weights)
    cwd = os.getcwd()
    os.chdir(user)
    try:
        torch_ckpt = run_export("--torch", "theirvae:build_conv", "--weights", weights, "--image-size", 64,
                                "--input-range", "-1,1", "--output-range", "-1,1", "--data-dir", data,
                                "--out", root / "theirs-torch.pt", "--cache-dir", cache, "--device", "cpu")
    finally:
        os.chdir(cwd)
    return {"root": root, "data": data, "cache": cache, "user": user, "mlp": mlp, "conv": conv, "enc": enc,
            "dec": dec, "weights": weights, "onnx": onnx_ckpt, "torch": torch_ckpt}


@pytest.fixture
def in_user_dir(made, monkeypatch):
    """Run as the user would: from the folder that holds their module."""
    monkeypatch.chdir(made["user"])
    return made["user"]


# --------------------------------------------------------------------------------------------
# The public API on both
# --------------------------------------------------------------------------------------------

def test_an_onnx_pair_opens_through_the_public_api(made):
    vae = load_checkpoint(made["onnx"])
    assert (vae.latent_dim, vae.image_size, vae.has_logvar, vae.decoder_batch) == (8, 32, True, 1)
    assert vae.source.kind == "onnx" and "enc.onnx" in vae.source.describe()
    assert len(vae.attribute_names) == 40 and vae.bundle is not None and vae.bundle.mu.shape == (48, 8)
    x = torch.rand(5, 3, 32, 32)
    mu, logvar = vae.encode(x)
    ref_mu, ref_logvar = made["mlp"].encode(x)
    torch.testing.assert_close(mu, ref_mu.detach(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logvar, ref_logvar.detach(), atol=1e-4, rtol=1e-4)
    z = torch.randn(5, 8)  # five at once through a decoder fixed at batch 1
    torch.testing.assert_close(vae.decode(z), made["mlp"].decode(z).detach(), atol=1e-4, rtol=1e-4)
    # the reconstructions in the bundle are the model's, not a constant: better than the mean face
    assert vae.bundle.recon_mse.mean() < vae.summary["check"]["mse"] * 1.5
    assert vae.bundle.kl_per_dim is not None and vae.bundle.posterior_var_mean is not None


def test_a_torch_module_opens_through_the_public_api_with_its_ranges_mapped(made, in_user_dir):
    vae = load_checkpoint(made["torch"])
    assert (vae.latent_dim, vae.image_size, vae.has_logvar, vae.source.kind) == (12, 64, True, "torch")
    assert "model." in vae.summary["weights_note"]  # Lightning's prefix was taken off, and it says so
    x = torch.rand(3, 3, 64, 64)
    mu, logvar = vae.encode(x)
    ref = made["conv"].encode(2 * x - 1)
    torch.testing.assert_close(mu, ref[0].detach(), atol=1e-5, rtol=1e-5)
    out = vae.decode(mu)
    with torch.no_grad():
        want = (made["conv"].decode(mu.clone()) + 1) / 2
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
    assert out.min() >= 0 and out.max() <= 1  # tanh's [-1,1] came back as [0,1]


def test_the_crop_flag_reaches_the_model_preprocessing(made, tmp_path):
    out = run_export("--onnx", made["enc"], made["dec"], "--image-size", 32, "--crop", "178x218", "--data-dir",
                     made["data"], "--out", tmp_path / "nocrop.pt", "--cache-dir", made["cache"], "--no-tsne")
    vae = load_checkpoint(out)
    assert vae.preprocess_config.crop_fraction == 1.0 and vae.preprocess_config.crop_aspect == pytest.approx(218 / 178)
    from PIL import Image

    img = Image.new("RGB", (178, 218), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 178, 20))  # a band at the very top: kept by no crop, cut by the 148 crop
    assert vae.preprocess(img)[2, 0].mean() > 0.9
    assert load_checkpoint(made["onnx"]).preprocess(img)[2, 0].mean() < 0.1


def test_the_browser_decoders_are_the_same_function(made, in_user_dir, tmp_path):
    import onnxruntime as ort

    for name in ("onnx", "torch"):
        vae = load_checkpoint(made[name])
        path = decoder_onnx(vae, tmp_path / "cache")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in sess.get_inputs()] == [INPUT] and [o.name for o in sess.get_outputs()] == [OUTPUT]
        z = np.random.default_rng(0).standard_normal((1, vae.latent_dim)).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {INPUT: z})[0], vae.decode(z).numpy(), atol=1e-4)
    # the ONNX pair keeps its fixed batch of 1 (the page loops); the torch export takes any batch
    assert sess.get_inputs()[0].shape[0] != 1


# --------------------------------------------------------------------------------------------
# Every view on both, and the comparison with ours
# --------------------------------------------------------------------------------------------

VIEW_IDS = ["sample", "sliders", "map", "arithmetic", "interpolate", "reconstruct", "diagnostics", "dimattr",
            "holes", "compare"]


@pytest.fixture
def app_with(made, monkeypatch, tmp_path, in_user_dir):
    """app_with(kind, **query) -> a run AppTest on a foreign checkpoint, with one of ours in checkpoints/."""
    from streamlit.testing.v1 import AppTest
    from test_app import PAGE, make_checkpoint_file
    from explorer import catalog

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    make_checkpoint_file(folder / "celeba64.pt", latent_dim=16)
    monkeypatch.setattr(catalog, "CHECKPOINT_DIR", folder)

    def _start(kind, **params):
        """kind: "onnx", "torch", or a checkpoint's path."""
        monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint", str(made.get(kind, kind))])
        at = AppTest.from_file(str(PAGE), default_timeout=120)
        for k, v in params.items():
            at.query_params[k] = str(v)
        return at.run()
    return _start


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["onnx", "torch"])
@pytest.mark.parametrize("view", VIEW_IDS)
def test_every_view_runs_on_a_foreign_model(app_with, kind, view):
    at = app_with(kind, view=view)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["vs"].view == view
    if view in ("sample", "sliders", "arithmetic", "interpolate"):
        assert [u for im in at.main.get("image") for u in im.value]
    if view == "compare":  # A is theirs, B ours (their latent sizes differ: 8 or 12 against 16)
        captions = [c.value for c in at.caption]
        theirs = {"onnx": "ONNX: enc.onnx + dec.onnx", "torch": "PyTorch module: theirvae:build_conv"}[kind]
        assert any(theirs in c for c in captions) and any("trained by python -m train" in c for c in captions)
        assert any("latent sizes differ" in c for c in captions)


def test_the_picker_shows_where_a_model_came_from(app_with):
    at = app_with("onnx")
    labels = at.selectbox(key="ckpt_pick").options
    assert any("theirs-onnx.pt" in o and "ONNX" in o for o in labels)
    assert "celeba64.pt" in labels  # ours: no badge


def test_a_model_without_logvar_says_so_instead_of_raising(made, app_with, monkeypatch, tmp_path):
    enc = to_onnx(_Call(made["mlp"], "encode", pick=lambda out: out[0]), torch.zeros(2, 3, 32, 32),
                  tmp_path / "enc_mu.onnx", ("pixels", "mu"), True)
    out = run_export("--onnx", enc, made["dec"], "--image-size", 32, "--data-dir", made["data"], "--out",
                     tmp_path / "ae.pt", "--cache-dir", made["cache"], "--no-tsne")
    vae = load_checkpoint(out)
    assert vae.has_logvar is False and vae.bundle.kl_per_dim is None and vae.bundle.posterior_var_mean is None
    for view in VIEW_IDS:
        at = app_with(out, view=view)
        assert not at.exception, (view, [e.value for e in at.exception])
        assert not at.error, (view, [e.value for e in at.error])
        if view == "diagnostics":
            assert any("no logvar" in i.value for i in at.info)
        if view == "sliders":
            assert any("variance of μ" in c.value for c in at.caption)


def test_a_foreign_torch_file_whose_module_is_gone_gives_a_message_naming_it(made, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not the folder that holds theirvae.py
    monkeypatch.delitem(sys.modules, "theirvae", raising=False)
    with pytest.raises(CheckpointError, match="theirvae") as e:
        load_checkpoint(made["torch"])
    assert "PYTHONPATH" in str(e.value)
    from streamlit.testing.v1 import AppTest
    from test_app import PAGE

    monkeypatch.setattr(sys, "argv", ["app.py", "--checkpoint", str(made["torch"])])
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception and "theirvae" in at.error[0].value


def test_an_ordinary_checkpoint_never_imports_a_module(made, tmp_path, monkeypatch):
    """Only a file made with --torch imports code: the same module named in an ONNX file's fields is not."""
    data = torch.load(made["onnx"], weights_only=True)
    data["foreign"]["factory"] = "theirvae:build_conv"
    torch.save(data, tmp_path / "x.pt")
    monkeypatch.delitem(sys.modules, "theirvae", raising=False)
    monkeypatch.chdir(made["user"])
    load_checkpoint(tmp_path / "x.pt")
    assert "theirvae" not in sys.modules


# --------------------------------------------------------------------------------------------
# Bad input: one message naming the file and the fix, nothing written
# --------------------------------------------------------------------------------------------

def _refused(args, out: Path, *expect: str):
    with pytest.raises(SystemExit) as e:
        export.main([str(a) for a in args])
    msg = str(e.value.code)
    assert msg.startswith("error: ") and all(x in msg for x in expect), msg
    assert not out.exists()
    return msg


def test_bad_onnx_files_stop_before_anything_is_written(made, tmp_path):
    base = ["--image-size", 32, "--data-dir", made["data"], "--cache-dir", made["cache"], "--out", tmp_path / "x.pt"]
    out = tmp_path / "x.pt"
    _refused(["--onnx", tmp_path / "absent.onnx", made["dec"], *base], out, "absent.onnx", "no such file")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    _refused(["--onnx", tmp_path / "junk.onnx", made["dec"], *base], out, "junk.onnx", "not a readable ONNX file")
    # an encoder whose output is not (N,D)
    bad = to_onnx(_Call(torch.nn.Identity(), "forward", pick=lambda x: x.mean((2, 3))[:, :, None]),
                  torch.zeros(2, 3, 32, 32), tmp_path / "bad_enc.onnx", ("x", "y"), True)
    _refused(["--onnx", bad, made["dec"], *base], out, "bad_enc.onnx", "expected (N,D)")
    # encoder and decoder of different latent sizes
    other = to_onnx(_Call(MLPVAE(32, 6), "decode"), torch.zeros(1, 6), tmp_path / "dec6.onnx", ("z", "img"), False)
    _refused(["--onnx", made["enc"], other, *base], out, "dec6.onnx", "same model")
    # a decoder whose images are not (N,3,S,S) for --image-size
    small = MLPVAE(16, 8)
    dec16 = to_onnx(_Call(small, "decode"), torch.zeros(1, 8), tmp_path / "dec16.onnx", ("z", "img"), False)
    _refused(["--onnx", made["enc"], dec16, *base], out, "dec16.onnx", "--image-size 32")
    # the wrong --image-size for the encoder
    _refused(["--onnx", made["enc"], made["dec"], *base[:1], 64, *base[2:]], out, "enc.onnx", "--image-size")


def test_bad_torch_modules_and_weights_stop_before_anything_is_written(made, in_user_dir, tmp_path):
    out = tmp_path / "x.pt"
    base = ["--weights", made["weights"], "--image-size", 64, "--input-range", "-1,1", "--output-range", "-1,1",
            "--data-dir", made["data"], "--cache-dir", made["cache"], "--out", out]
    _refused(["--torch", "no_such_pkg.models:build", *base], out, "no_such_pkg.models", "PYTHONPATH")
    _refused(["--torch", "theirvae:build_broken", *base], out, "build_broken", "fails on purpose")
    _refused(["--torch", "theirvae:nothing_here", *base], out, "nothing_here")
    _refused(["--torch", "theirvae", *base], out, "package.module:factory")
    # weights of another architecture: the missing and unexpected keys are named
    torch.save(MLPVAE(64, 12).state_dict(), tmp_path / "mlp.pt")
    msg = _refused(["--torch", "theirvae:build_conv", "--weights", tmp_path / "mlp.pt", *base[2:]], out, "mlp.pt",
                   "missing", "decoder.0.weight", "unexpected", "enc.1.weight")
    assert "--torch" in msg
    # a pickled object instead of a state dict is refused, not unpickled
    torch.save({"model": ConvVAE()}, tmp_path / "pickled.pt")
    _refused(["--torch", "theirvae:build_conv", "--weights", tmp_path / "pickled.pt", *base[2:]], out, "pickled.pt",
             "refused")
    _refused(["--torch", "theirvae:build_conv", "--weights", tmp_path / "none.pt", *base[2:]], out, "none.pt")
    # NaN in the outputs
    state = {k: v.clone() for k, v in made["conv"].state_dict().items()}
    state["fc_mu.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    _refused(["--torch", "theirvae:build_conv", "--weights", tmp_path / "nan.pt", *base[2:]], out, "NaN")
    # a method the module lacks
    _refused(["--torch", "theirvae:build_conv", "--encode-method", "embed", *base], out, "embed", "--encode-method")


def test_a_wrong_pixel_range_is_caught_on_the_data_and_names_the_flag(made, in_user_dir, tmp_path):
    out = tmp_path / "x.pt"
    common = ["--torch", "theirvae:build_conv", "--weights", made["weights"], "--image-size", 64,
              "--data-dir", made["data"], "--cache-dir", made["cache"], "--out", out]
    # a tanh decoder declared as [0,1]
    _refused([*common, "--input-range", "-1,1", "--output-range", "0,1"], out, "--output-range -1,1")
    # a sigmoid decoder declared as [-1,1]
    base = ["--image-size", 32, "--data-dir", made["data"], "--cache-dir", made["cache"], "--out", out]
    _refused(["--onnx", made["enc"], made["dec"], "--output-range", "-1,1", *base], out, "--output-range 0,1")


def test_the_cli_exits_non_zero_with_one_line_and_no_traceback(made, tmp_path):
    out = tmp_path / "x.pt"
    done = subprocess.run([sys.executable, "-m", "train.export", "--torch", "no_such_pkg.models:build", "--weights",
                           str(made["weights"]), "--data-dir", str(made["data"]), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode != 0 and not out.exists()
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.strip()] == [done.stderr.strip()]
    assert "no_such_pkg.models" in done.stderr
    help_text = subprocess.run([sys.executable, "-m", "train.export", "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert "IMPORTS THAT MODULE" in help_text and "--onnx" in help_text and "--output-range" in help_text


# --------------------------------------------------------------------------------------------
# In Chromium: the user's own decoder runs in the page (batch fixed at 1: one face at a time)
# --------------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.slow
def test_the_onnx_decoder_drags_live_in_the_browser(made, tmp_path):
    from test_browser import CHROMIUM, CHROMIUM_ARGS, measured_page, streamlit_server
    from test_live import LIVE, STATS, _assert_faces_drawn, _drag_held, _open_live, _z_at_rest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    from explorer import latent
    from explorer.imaging import to_uint8_images
    from explorer.ui.sliders import TRAVERSAL

    vae = load_checkpoint(made["onnx"])
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache")}  # a cold cache: the graph is prepared for the page here
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(made["onnx"]), log=tmp_path / "server.log",
                          env=env) as url, sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = measured_page(b, viewport={"width": 1400, "height": 1000})
            _open_live(page, url)
            page.wait_for_function(f"{STATS}.idle && {STATS}.strips >= 1", timeout=30_000)
            sliders = page.locator(f"{LIVE} input[type=range]")
            own, other = int(sliders.nth(0).get_attribute("data-id")), int(sliders.nth(1).get_attribute("data-id"))
            frames0 = page.evaluate(f"{STATS}.frames")
            _drag_held(page, sliders.nth(1), 0.5, 0.85)
            page.wait_for_function(f"{STATS}.frames >= {frames0 + 10}", timeout=10_000)
            assert "dims=" not in page.url  # still held: the faces came from the page
            page.mouse.up()
            page.wait_for_function("() => location.search.includes('dims=')", timeout=30_000)
            z = _z_at_rest(page, other, float(page.evaluate(f"{STATS}.values")[str(other)]))
            # the face and the whole traversal strip (8 faces through a batch-1 decoder) match the server's
            _assert_faces_drawn(page, f"{LIVE} canvas.main", to_uint8_images(vae.decode(z[None])))
            _assert_faces_drawn(page, f"{LIVE} canvas.strip",
                                to_uint8_images(vae.decode(latent.traversal(z, own, TRAVERSAL))))
            assert page.evaluate(f"{STATS}.error") is None
        finally:
            b.close()


def test_the_export_imports_nothing_from_the_training_loop():
    """train.export is the one builder of bundles: the loop calls it, never the reverse."""
    code = "import sys, train.export; print(sorted(m for m in sys.modules if m.startswith('train')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert "train.loop" not in done.stdout and "train.export" in done.stdout
