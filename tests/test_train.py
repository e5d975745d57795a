import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from celeba_fixtures import make_celeba
from conftest import ROOT
from explorer import load_checkpoint
from explorer.celeba import CelebAError, open_celeba
from explorer.checkpoint import read_checkpoint_dict
from explorer.config import LossConfig, PreprocessConfig, VAEConfig
from explorer.model import VAE
from train import loop
from train.cli import main as cli_main
from train.losses import vae_loss
from train.prepare import load_or_build_cache

TINY = ["--image-size", "32", "--latent-dim", "8", "--channels", "8,16,16", "--batch-size", "8",
        "--warmup-steps", "2", "--no-progress", "--device", "cpu"]


def run_cli(data_dir, out, cache, *extra):
    cli_main(["--data-dir", str(data_dir), "--out", str(out), "--cache-dir", str(cache), *TINY, *extra])


@pytest.fixture
def data(tmp_path):
    return make_celeba(tmp_path / "celeba", n=40)


def test_a_few_steps_lower_the_loss_and_change_weights():
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_size=32, latent_dim=8, channels=(8, 16, 16)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.rand(8, 1, 1, 1) * torch.ones(8, 3, 32, 32)  # eight flat grey levels: easy to learn
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = []
    for _ in range(30):
        recon, mu, logvar = model(x)
        t = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="fixed", sigma=0.1), beta=1.0)
        opt.zero_grad()
        t.loss.backward()
        opt.step()
        losses.append(t.loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert not torch.equal(before["to_posterior.weight"], model.state_dict()["to_posterior.weight"])


def test_cli_writes_checkpoint_bundle_metrics_and_grids(tmp_path, data, capsys):
    out = tmp_path / "run" / "m.pt"
    run_cli(data, out, tmp_path / "cache", "--epochs", "2", "--bundle-splits", "all")
    vae = load_checkpoint(out)
    assert (vae.image_size, vae.latent_dim) == (32, 8)
    assert vae.summary["epochs"] == 2 and vae.summary["data"]["train_images"] == 28
    assert [h["epoch"] for h in vae.history] == [1, 2]
    b = vae.bundle
    assert len(b) == 40 and b.mu.shape == (40, 8) and b.directions.shape == (40, 8)
    assert np.isfinite(b.tsne).all() and b.info["tsne_backend"] in ("openTSNE", "scikit-learn")
    rows = list(csv.DictReader((tmp_path / "run" / "m_run" / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[1]["val_mse"]) > 0
    grids = sorted(p.name for p in (tmp_path / "run" / "m_run" / "grids").iterdir())
    assert grids == ["epoch001_reconstruction.png", "epoch001_samples.png",
                     "epoch002_reconstruction.png", "epoch002_samples.png"]
    printed = capsys.readouterr()
    assert "epoch 2:" in printed.out and "analysis bundle: 40 images" in printed.out


def _weights(path):
    return read_checkpoint_dict(path)["state_dict"]


def test_resume_after_epoch_1_equals_uninterrupted_run(tmp_path, data):
    cache = tmp_path / "cache"
    run_cli(data, tmp_path / "full.pt", cache, "--epochs", "2", "--no-export")
    run_cli(data, tmp_path / "part.pt", cache, "--epochs", "1", "--no-export")
    run_cli(data, tmp_path / "part.pt", cache, "--epochs", "2", "--no-export", "--resume")
    a, b = _weights(tmp_path / "full.pt"), _weights(tmp_path / "part.pt")
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    assert read_checkpoint_dict(tmp_path / "part.pt")["summary"]["epochs"] == 2


def test_ctrl_c_mid_epoch_saves_and_resume_is_exact(tmp_path, data, monkeypatch):
    cache = tmp_path / "cache"
    run_cli(data, tmp_path / "full.pt", cache, "--epochs", "2", "--no-export")
    calls = {"n": 0}
    real = loop.vae_loss

    def interrupting(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 6:  # 3 train steps + 1 validation call in epoch 1; then epoch 2, batch 2
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of a step
        return real(*a, **kw)

    monkeypatch.setattr(loop, "vae_loss", interrupting)
    with pytest.raises(SystemExit) as e:
        run_cli(data, tmp_path / "cut.pt", cache, "--epochs", "2", "--no-export")
    assert e.value.code == 130
    ts = read_checkpoint_dict(tmp_path / "cut.pt")["train_state"]
    # the step under way when Ctrl-C came is finished, then the run saves and stops
    assert (ts["epoch"], ts["batch_in_epoch"], ts["step"]) == (1, 2, 5)
    monkeypatch.setattr(loop, "vae_loss", real)
    run_cli(data, tmp_path / "cut.pt", cache, "--epochs", "2", "--no-export", "--resume")
    a, b = _weights(tmp_path / "full.pt"), _weights(tmp_path / "cut.pt")
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, data, monkeypatch, capsys):
    cache = tmp_path / "cache"
    run_cli(data, tmp_path / "m.pt", cache, "--epochs", "1", "--no-export")
    good = _weights(tmp_path / "m.pt")
    real = loop.vae_loss

    def poisoned(*a, **kw):
        t = real(*a, **kw)
        t.loss = t.loss * float("nan")
        t.nelbo = t.nelbo * float("nan")
        return t

    monkeypatch.setattr(loop, "vae_loss", poisoned)
    with pytest.raises(SystemExit) as e:
        run_cli(data, tmp_path / "m.pt", cache, "--epochs", "3", "--no-export", "--resume")
    assert "loss became nan" in str(e.value) and "last good checkpoint" in str(e.value)
    after = read_checkpoint_dict(tmp_path / "m.pt")
    assert after["summary"]["epochs"] == 1
    for k in good:
        assert torch.equal(good[k], after["state_dict"][k])


def test_unreadable_images_are_skipped_and_listed_or_stop_under_strict(tmp_path, capsys):
    data = make_celeba(tmp_path / "c", n=40, corrupt=[0, 1, 2])
    run_cli(data, tmp_path / "m.pt", tmp_path / "cache", "--epochs", "1", "--no-export")
    out = capsys.readouterr().out
    assert "skipped 3 unreadable image(s)" in out
    assert "000001.jpg" in out and "000002.jpg" in out and "000003.jpg" in out
    assert load_checkpoint(tmp_path / "m.pt").summary["data"]["unreadable_images"] == 3
    with pytest.raises(SystemExit) as e:
        run_cli(data, tmp_path / "s.pt", tmp_path / "cache2", "--epochs", "1", "--strict")
    assert "000001.jpg" in str(e.value) and "--strict" in str(e.value)


def test_bad_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        run_cli(tmp_path / "nowhere", tmp_path / "m.pt", tmp_path / "cache", "--epochs", "1")
    assert "nowhere" in str(e.value)


def test_cache_is_reused_and_rebuilt_when_source_or_size_changes(tmp_path):
    data = make_celeba(tmp_path / "c", n=12)
    index = open_celeba(data)
    a = load_or_build_cache(index, PreprocessConfig(image_size=32), tmp_path / "cache", workers=1, progress=False)
    assert a.build_seconds is not None and a.images.shape == (12, 3, 32, 32)
    b = load_or_build_cache(index, PreprocessConfig(image_size=32), tmp_path / "cache", workers=1, progress=False)
    assert b.build_seconds is None and np.array_equal(a.images, b.images)
    c = load_or_build_cache(index, PreprocessConfig(image_size=64), tmp_path / "cache", workers=1, progress=False)
    assert c.path != a.path and c.images.shape == (12, 3, 64, 64)
    attr = data / "list_attr_celeba.txt"
    attr.write_bytes(attr.read_bytes().replace(b" 1", b"-1", 1))
    d = load_or_build_cache(open_celeba(data), PreprocessConfig(image_size=32), tmp_path / "cache", workers=1,
                            progress=False)
    assert d.path != a.path and d.build_seconds is not None


def test_parallel_decode_matches_serial(tmp_path):
    data = make_celeba(tmp_path / "c", n=80)
    index = open_celeba(data)
    from train.prepare import decode_all

    serial, ok1, _ = decode_all(index, PreprocessConfig(image_size=32), workers=1, progress=False)
    par, ok2, _ = decode_all(index, PreprocessConfig(image_size=32), workers=2, progress=False)
    assert ok1.all() and ok2.all() and np.array_equal(serial, par)


def test_export_cli_slims_for_shipping(tmp_path, data):
    run_cli(data, tmp_path / "m.pt", tmp_path / "cache", "--epochs", "1", "--no-export")
    from train.export import main as export_main

    export_main([str(tmp_path / "m.pt"), "--data-dir", str(data), "--splits", "valid,test", "--slim",
                 "--out", str(tmp_path / "ship.pt"), "--cache-dir", str(tmp_path / "cache")])
    ship = read_checkpoint_dict(tmp_path / "ship.pt")
    assert ship["train_state"] is None
    assert ship["state_dict"]["to_posterior.weight"].dtype == torch.float16
    assert (tmp_path / "ship.pt").stat().st_size < (tmp_path / "m.pt").stat().st_size
    bundle = load_checkpoint(tmp_path / "ship.pt").bundle
    assert len(bundle) == 12  # 6 valid + 6 test of 40
    # the optional fields the prior-holes and sample views use: E[σ²] per dimension and the fitted density
    assert bundle.posterior_var_mean.shape == (bundle.mu.shape[1],) and np.all(bundle.posterior_var_mean > 0)
    assert bundle.density.dim == bundle.mu.shape[1] and bundle.density.n_components == 6  # 12 faces: 2 per component


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path, data):
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "train", "--data-dir", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
           *TINY, "--epochs", "2", "--no-tsne"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    vae = load_checkpoint(out)
    assert vae.summary["processes"] == 2 and vae.summary["epochs"] == 2
    assert vae.summary["batch_size"] == 8  # global batch: 4 per process
    assert len(vae.history) == 2 and vae.bundle is not None


@pytest.mark.slow
@pytest.mark.realdata
def test_one_short_epoch_on_the_real_sample(tmp_path, sample_dir):
    out = tmp_path / "real.pt"
    cli_main(["--data-dir", str(sample_dir), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
              "--epochs", "1", "--max-train-images", "512", "--batch-size", "32", "--bundle-max-images", "300",
              "--no-progress"])
    vae = load_checkpoint(out)
    assert vae.summary["data"]["valid_images"] == 780
    h = vae.history[0]
    assert 0 < h["val_mse"] < 0.1 and np.isfinite(h["val_nelbo"])
    assert len(vae.bundle) == 300


def test_bf16_autocast_path_runs_and_keeps_float32_weights(tmp_path, data):
    # The GPU default (bf16 autocast) exercised on the CPU, so CI covers that code path too.
    run_cli(data, tmp_path / "bf16.pt", tmp_path / "cache", "--epochs", "1", "--precision", "bf16", "--no-tsne")
    ckpt = read_checkpoint_dict(tmp_path / "bf16.pt")
    assert ckpt["summary"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert np.isfinite(ckpt["history"][0]["val_mse"])


@pytest.mark.slow
def test_compiled_run_saves_plain_weights_that_load_and_resume(tmp_path, data):
    # torch.compile wraps the module; the checkpoint must still hold the plain model's keys.
    run_cli(data, tmp_path / "c.pt", tmp_path / "cache", "--epochs", "1", "--compile", "--no-export")
    vae = load_checkpoint(tmp_path / "c.pt")
    assert not any(k.startswith("_orig_mod") for k in vae.model.state_dict())
    run_cli(data, tmp_path / "c.pt", tmp_path / "cache", "--epochs", "2", "--no-export", "--resume")
    assert load_checkpoint(tmp_path / "c.pt").summary["epochs"] == 2
