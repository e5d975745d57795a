import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from celeba_fixtures import make_celeba, synthetic_cache
from conftest import ROOT
from explorer import load_checkpoint
from explorer.analysis import sprites
from explorer.celeba import CelebAError, open_celeba
from explorer.checkpoint import read_checkpoint_dict
from explorer.config import LossConfig, PreprocessConfig, VAEConfig
from explorer.model import VAE
from explorer.analysis.runlog import epoch_rows
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
    assert [h["epoch"] for h in epoch_rows(vae.history)] == [1, 2]
    # per-step rows (no "epoch") for the Diagnostics curves: here each epoch's last step (fewer than log_every)
    steps = [h for h in vae.history if "epoch" not in h]
    n = vae.summary["steps"]
    assert [h["step"] for h in steps] == [n // 2, n] and all(np.isfinite(h["train_nelbo"]) for h in steps)
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
    assert len(epoch_rows(vae.history)) == 2 and vae.bundle is not None


@pytest.mark.slow
@pytest.mark.realdata
def test_one_short_epoch_on_the_real_sample(tmp_path, sample_dir):
    out = tmp_path / "real.pt"
    cli_main(["--data-dir", str(sample_dir), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
              "--epochs", "1", "--max-train-images", "512", "--batch-size", "32", "--bundle-max-images", "300",
              "--no-progress"])
    vae = load_checkpoint(out)
    assert vae.summary["data"]["valid_images"] == 780
    h = epoch_rows(vae.history)[0]
    assert 0 < h["val_mse"] < 0.1 and np.isfinite(h["val_nelbo"])
    assert len(vae.bundle) == 300


def test_bf16_autocast_path_runs_and_keeps_float32_weights(tmp_path, data):
    # The GPU default (bf16 autocast) exercised on the CPU, so CI covers that code path too.
    run_cli(data, tmp_path / "bf16.pt", tmp_path / "cache", "--epochs", "1", "--precision", "bf16", "--no-tsne")
    ckpt = read_checkpoint_dict(tmp_path / "bf16.pt")
    assert ckpt["summary"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert np.isfinite(epoch_rows(ckpt["history"])[0]["val_mse"])


@pytest.mark.slow
def test_compiled_run_saves_plain_weights_that_load_and_resume(tmp_path, data):
    # torch.compile wraps the module; the checkpoint must still hold the plain model's keys.
    run_cli(data, tmp_path / "c.pt", tmp_path / "cache", "--epochs", "1", "--compile", "--no-export")
    vae = load_checkpoint(tmp_path / "c.pt")
    assert not any(k.startswith("_orig_mod") for k in vae.model.state_dict())
    run_cli(data, tmp_path / "c.pt", tmp_path / "cache", "--epochs", "2", "--no-export", "--resume")
    assert load_checkpoint(tmp_path / "c.pt").summary["epochs"] == 2


# ----- the learning-rate schedule, validation, resume errors ---------------------------------------

def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_a_tenth():
    cfg = loop.TrainConfig(data_dir="", out="", lr=1e-3, warmup_steps=10)
    total = 110
    lrs = np.array([loop.lr_at(cfg, s, total) for s in range(total + 1)])
    np.testing.assert_allclose(lrs[:10], 1e-4 * np.arange(1, 11))  # linear, reaching the peak at the last warm-up step
    assert lrs[10] == pytest.approx(1e-3)  # the cosine starts at the peak ...
    assert lrs[60] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # ... is half way down half way through ...
    assert lrs[110] == pytest.approx(1e-4)  # ... and ends at a tenth
    assert np.all(np.diff(lrs[10:]) < 0)
    np.testing.assert_allclose(lrs[10:], 1e-3 * (0.1 + 0.45 * (1 + np.cos(np.pi * np.arange(101) / 100))))


def test_validate_reports_the_elbo_kl_and_mse_of_the_valid_images(tmp_path):
    cache = synthetic_cache(n_train=16, n_valid=8)
    cfg = loop.TrainConfig(data_dir="synthetic", out=str(tmp_path / "m.pt"), image_size=32, latent_dim=8,
                           channels=(8, 16, 16), batch_size=8, device="cpu", progress=False, likelihood="fixed",
                           sigma=0.3)
    tr = loop.Trainer(cfg, log=lambda m: None, cache=cache)
    tr.train_epoch()  # trained weights and BatchNorm statistics, not the initial ones
    with torch.no_grad():  # make the decode depend strongly on z, and sigma large, so that mistaking
        tr.model.from_latent[0].weight.mul_(20.0)  # the sampled z for mu (or the reverse) shows
        tr.model.to_posterior.bias[cfg.latent_dim:].add_(1.0)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    v = tr.validate()
    assert tr.model.training  # validation puts the model back in training mode ...
    for k, w in tr.model.state_dict().items():  # ... and changes nothing in it
        assert torch.equal(w, before[k]), k
    assert tr.validate() == v  # the same noise every time: curves compare like with like

    # the same numbers, computed here from the definitions on the 8 valid images
    model = tr.model.eval()
    x = torch.from_numpy(cache.images[16:]).float() / 255
    with torch.no_grad():
        mu, logvar = model.encode(x)
        kl = (0.5 * (mu**2 + logvar.exp() - logvar - 1)).sum(1)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(12345))
        sq = (model.decode(mu + torch.exp(0.5 * logvar) * eps) - x).pow(2).flatten(1).sum(1)
        p = x[0].numel()
        nll = sq / (2 * 0.3**2) + p * (np.log(0.3) + 0.5 * np.log(2 * np.pi))
        mse_mu = (model.decode(mu) - x).pow(2).mean()
    # z and mu decode differently, by well over the tolerance below (random images: the MSE is mostly their variance)
    assert abs(sq.mean().item() / p - mse_mu.item()) > 1e-3 * mse_mu.item()
    assert v["val_kl"] == pytest.approx(kl.mean().item(), rel=1e-4)
    assert v["val_mse"] == pytest.approx(mse_mu.item(), rel=1e-4)
    assert v["val_nelbo"] == pytest.approx((nll + kl).mean().item(), rel=1e-4)


def test_resume_errors_name_the_file_and_what_to_do(tmp_path, data):
    cache = tmp_path / "cache"
    with pytest.raises(SystemExit) as e:
        run_cli(data, tmp_path / "absent.pt", cache, "--epochs", "1", "--resume")
    assert f"no checkpoint at {tmp_path / 'absent.pt'}" in str(e.value)

    run_cli(data, tmp_path / "m.pt", cache, "--epochs", "1", "--no-export")
    from train.export import main as export_main

    export_main([str(tmp_path / "m.pt"), "--data-dir", str(data), "--slim", "--no-tsne", "--out",
                 str(tmp_path / "slim.pt"), "--cache-dir", str(cache)])
    with pytest.raises(SystemExit) as e:
        run_cli(data, tmp_path / "slim.pt", cache, "--epochs", "2", "--resume")
    assert "slim.pt holds no training state" in str(e.value)

    # a different architecture named on the command line is refused, and the checkpoint is untouched
    before = (tmp_path / "m.pt").read_bytes()
    with pytest.raises(SystemExit) as e:
        run_cli(data, tmp_path / "m.pt", cache, "--epochs", "2", "--resume", "--latent-dim", "16")
    assert "m.pt holds a model with latent_dim 8" in str(e.value) and "asks for 16" in str(e.value)
    assert (tmp_path / "m.pt").read_bytes() == before


def test_resume_without_the_run_flags_continues_the_saved_run(tmp_path, data, capsys):
    """The short command (`--data-dir --out --epochs --resume`) continues the run as it was started:
    architecture, objective and schedule come from the checkpoint, not from the flags' defaults."""
    cache = tmp_path / "cache"
    run_cli(data, tmp_path / "full.pt", cache, "--epochs", "2", "--no-export", "--likelihood", "fixed", "--sigma", "0.4")
    run_cli(data, tmp_path / "part.pt", cache, "--epochs", "1", "--no-export", "--likelihood", "fixed", "--sigma", "0.4")
    cli_main(["--data-dir", str(data), "--out", str(tmp_path / "part.pt"), "--cache-dir", str(cache), "--epochs", "2",
              "--no-export", "--no-progress", "--device", "cpu", "--resume"])
    a, b = _weights(tmp_path / "full.pt"), _weights(tmp_path / "part.pt")
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    s = read_checkpoint_dict(tmp_path / "part.pt")["summary"]
    assert s["loss"]["likelihood"] == "fixed" and s["loss"]["sigma"] == 0.4 and s["batch_size"] == 8
    # a setting named on the command line does change the run, and says so
    capsys.readouterr()
    run_cli(data, tmp_path / "part.pt", cache, "--epochs", "3", "--no-export", "--resume", "--lr", "5e-4",
            "--likelihood", "fixed", "--sigma", "0.4")
    assert "--lr changes from 0.001 to 0.0005" in capsys.readouterr().out


# ----- crashes and concurrency -----------------------------------------------------------------------

# Runs `python -m train` for real, but the second checkpoint write stops half way (a flushed half file)
# and waits there to be killed: the kill lands mid-write every time, not by luck of timing.
KILLED_MID_WRITE = """
import io, sys, time
from pathlib import Path
import torch
ready, argv = Path(sys.argv[1]), sys.argv[2:]
real_save, calls = torch.save, []
def save_and_hang(obj, f, *a, **kw):
    calls.append(1)
    if len(calls) < 2:
        return real_save(obj, f, *a, **kw)
    buf = io.BytesIO()
    real_save(obj, buf, *a, **kw)
    f.write(buf.getvalue()[: buf.tell() // 2])
    f.flush()
    tmp = ready.with_suffix(".tmp")  # the size, then a rename: the test never reads a half-written number
    tmp.write_text(str(buf.tell()))
    tmp.rename(ready)
    time.sleep(600)
torch.save = save_and_hang
from train.cli import main
main(argv)
"""


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_loses_nothing(tmp_path, data):
    cache, out, ready = tmp_path / "cache", tmp_path / "run" / "m.pt", tmp_path / "ready"
    run_cli(data, tmp_path / "full.pt", cache, "--epochs", "3", "--no-export")
    args = ["--data-dir", str(data), "--out", str(out), "--cache-dir", str(cache), *TINY, "--epochs", "3", "--no-export"]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(ready), *args], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():  # the condition itself, polled: the write of epoch 2 is under way
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the training process never reached its second checkpoint write"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # the kill really came mid-write: a half-written temporary file is there, hidden and not named *.pt
    partial = list(out.parent.glob(".m.pt.*.tmp"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < int(ready.read_text())
    assert [p.name for p in out.parent.glob("*.pt")] == ["m.pt"]
    # the previous checkpoint (epoch 1) is whole and loads
    assert load_checkpoint(out).summary["epochs"] == 1
    # --resume continues from it to the end, exactly as a run that was never killed, and tidies up
    run_cli(data, out, cache, "--epochs", "3", "--no-export", "--resume")
    assert read_checkpoint_dict(out)["summary"]["epochs"] == 3
    a, b = _weights(tmp_path / "full.pt"), _weights(out)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    assert not list(out.parent.glob(".m.pt.*.tmp"))


# Two processes build the same cache at the same moment: each waits at decode_all until both are
# there, so the builds overlap every time.
TWO_BUILDERS = """
import sys, time
from pathlib import Path
import numpy as np
import train.prepare as prepare
from explorer.celeba import open_celeba
from explorer.config import PreprocessConfig
data, cache, me, other, out = sys.argv[1:6]
real = prepare.decode_all
def rendezvous(*a, **kw):
    Path(me).touch()
    t0 = time.monotonic()
    while not Path(other).exists():
        if time.monotonic() - t0 > 60:
            sys.exit("the other builder never came")
        time.sleep(0.01)
    return real(*a, **kw)
prepare.decode_all = rendezvous
d = prepare.load_or_build_cache(open_celeba(data), PreprocessConfig(image_size=32), cache, workers=1, progress=False)
np.save(out, np.asarray(d.images))
print("built" if d.build_seconds is not None else "loaded")
"""


@pytest.mark.slow
def test_two_cache_builds_at_once_both_succeed_and_leave_one_whole_cache(tmp_path):
    data = make_celeba(tmp_path / "c", n=60)
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", TWO_BUILDERS, str(data), str(cache), str(tmp_path / f"at{i}"),
                               str(tmp_path / f"at{1 - i}"), str(tmp_path / f"images{i}.npy")],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in (0, 1)]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip().splitlines()[-1] for o in outs] == ["built", "built"]
    a, b = np.load(tmp_path / "images0.npy"), np.load(tmp_path / "images1.npy")
    assert a.shape == (60, 3, 32, 32) and np.array_equal(a, b)
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 1 and ".tmp" not in entries[0], entries  # one whole cache, no leftovers
    again = load_or_build_cache(open_celeba(data), PreprocessConfig(image_size=32), cache, workers=1, progress=False)
    assert again.build_seconds is None and np.array_equal(np.asarray(again.images), a)


@pytest.mark.slow
def test_ddp_ranks_see_different_images_and_average_their_gradients(tmp_path):
    """Two processes (gloo on the CPU) train one short epoch. Both must end with the same weights, and
    those must equal one process that replays the same batches and averages the two ranks' gradients
    (DDP's semantics: BatchNorm statistics stay per rank). With gradient averaging switched off, the
    ranks drift apart; with summing instead of averaging, they differ from the replay. The ranks' noise
    differs (one shared generator gave sample i of every rank the same eps), and the replay draws each
    rank's from that rank's generator, so a rank that drew from another's would not match."""
    from ddp_probe import PROBE

    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "tests" / "ddp_probe.py"), str(tmp_path)]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in (0, 1)]
    steps = len(ranks[0]["seen"])
    assert steps == 4 and len(ranks[1]["seen"]) == steps  # 32 images, 4 per rank per step

    # the ranks see different images: disjoint at every step, together the whole train set once
    for s in range(steps):
        assert not set(ranks[0]["seen"][s][0].tolist()) & set(ranks[1]["seen"][s][0].tolist())
    every = sorted(i for rk in ranks for idx, _ in rk["seen"] for i in idx.tolist())
    assert every == list(range(32))

    # both ranks hold the same weights, and training moved them
    for k, w in ranks[0]["params"].items():
        assert torch.equal(w, ranks[1]["params"][k]), k
    assert not torch.equal(ranks[0]["params"]["to_posterior.weight"], ranks[0]["init"]["to_posterior.weight"])

    # each rank draws its own reparameterisation noise, from a generator seeded with seed + rank
    for r, rk in enumerate(ranks):
        assert torch.equal(rk["noise_rng"][0], torch.Generator().manual_seed(loop.noise_seed(0, r)).get_state())
    for s in range(steps):
        eps = [torch.randn(4, 8, generator=torch.Generator().set_state(rk["noise_rng"][s])) for rk in ranks]
        assert not torch.allclose(eps[0], eps[1], atol=0.1), s

    # one process replaying the same batches, with the two ranks' gradients averaged
    cfg = loop.TrainConfig(out="", **PROBE)
    model = VAE(VAEConfig(cfg.image_size, cfg.latent_dim, cfg.channels))
    model.load_state_dict(ranks[0]["init"])
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    images = torch.from_numpy(synthetic_cache(n_train=32, n_valid=0).images)
    loss_cfg = LossConfig(likelihood="fixed", sigma=cfg.sigma)
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = loop.lr_at(cfg, s, steps)
        opt.zero_grad()
        for rk in ranks:
            torch.set_rng_state(rk["noise_rng"][s])  # that rank's noise at that step
            idx, flip = rk["seen"][s]
            x = images[idx].float() / 255
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x).contiguous(memory_format=torch.channels_last)
            recon, mu, logvar = model(x)
            vae_loss(x, recon, mu, logvar, loss_cfg, 1.0).loss.backward()
        for p in model.parameters():
            p.grad /= len(ranks)
        opt.step()
    for k, w in model.named_parameters():
        torch.testing.assert_close(ranks[0]["params"][k], w.detach(), rtol=1e-4, atol=2e-5, msg=k)

# ---------------------------------------------------------------- several folders, train-only folders

def _identity(d, persons):
    lines = [f"{k + 1:06d}.jpg {p}" for k, p in enumerate(persons)]
    (d / "identity_CelebA.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())


def test_two_folders_train_together_and_the_summary_names_them_without_paths(tmp_path, capsys):
    a = make_celeba(tmp_path / "first", n=30)                         # 20 train / 5 valid / 5 test
    b = make_celeba(tmp_path / "second", n=40, partitions=[0] * 40, seed=1)
    _identity(a, [k // 3 for k in range(30)])
    out = tmp_path / "m.pt"
    cli_main(["--data-dir", str(a), "--data-dir", str(b), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
              *TINY, "--epochs", "1", "--no-tsne"])
    printed = capsys.readouterr().out
    assert "united 2 folders by image id: 40 images (train 30 / valid 5 / test 5); 30 duplicate ids" in printed
    vae = load_checkpoint(out)
    data = vae.summary["data"]
    assert data["train_images"] == 30 and data["valid_images"] == 5
    assert data["folders"] == [
        {"name": "first", "layout": "official", "images": 30, "persons": 10, "duplicates": 0},
        {"name": "second", "layout": "official", "images": 10, "persons": None, "duplicates": 30}]
    assert data["persons"] == 10
    assert "data_dir" not in data and str(tmp_path) not in repr(vae.summary)


def test_cache_key_changes_when_a_second_folder_is_added(tmp_path):
    from train.prepare import cache_key

    a = make_celeba(tmp_path / "a", n=12)
    b = make_celeba(tmp_path / "b", n=16, seed=1)
    pre = PreprocessConfig(image_size=32)
    assert cache_key(open_celeba([a]), pre) == cache_key(open_celeba(a), pre)
    assert cache_key(open_celeba([a, b]), pre) != cache_key(open_celeba(a), pre)
    one = load_or_build_cache(open_celeba(a), pre, tmp_path / "cache", workers=1, progress=False)
    two = load_or_build_cache(open_celeba([a, b]), pre, tmp_path / "cache", workers=1, progress=False)
    assert two.path != one.path and two.build_seconds is not None and len(two.filenames) == 16


def test_images_too_small_are_refused_per_folder_unless_upscaling_is_allowed(tmp_path, capsys):
    big = make_celeba(tmp_path / "big", n=30)
    # 30x36: the centred crop is round(30 * 148/178) = 25 pixels, under the 32 of TINY's image size
    small = make_celeba(tmp_path / "small", n=40, size=(30, 36), partitions=[0] * 40, seed=1)
    args = ["--data-dir", str(big), "--data-dir", str(small), "--cache-dir", str(tmp_path / "cache"), *TINY,
            "--epochs", "1", "--no-export"]
    with pytest.raises(SystemExit) as e:
        cli_main([*args, "--out", str(tmp_path / "m.pt")])
    msg = str(e.value)
    assert f"{small}: 10 of 10 images are too small for 32x32" in msg      # 30 of its ids are big's
    assert "30x36" in msg and "25 pixels" in msg and "--allow-upscale" in msg and f"{big}:" not in msg
    assert not (tmp_path / "m.pt").exists()
    cli_main([*args, "--out", str(tmp_path / "m.pt"), "--allow-upscale"])
    assert "note: --allow-upscale: " in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "m.pt").summary["data"]["train_images"] == 30


def test_half_resolution_celeba_passes_at_64_and_is_too_small_at_128(tmp_path):
    from train.prepare import check_image_sizes

    index = open_celeba(make_celeba(tmp_path / "half", n=6, size=(89, 109)))   # as celeba-extra-halfres
    assert check_image_sizes(index, PreprocessConfig(image_size=64), workers=1) == 0   # a 74-pixel crop
    with pytest.raises(CelebAError, match=r"6 of 6 images are too small for 128x128 .*89x109.* 74 pixels"):
        check_image_sizes(index, PreprocessConfig(image_size=128), workers=1)
    notes = []
    assert check_image_sizes(index, PreprocessConfig(image_size=128), True, notes.append, workers=1) == 6
    assert len(notes) == 1 and "half: 6 of 6 images" in notes[0]


def test_image_sizes_in_worker_processes_match_one_process(tmp_path, monkeypatch):
    from train import prepare

    d = make_celeba(tmp_path / "c", n=30, size=(89, 109), layout="zip", corrupt={4: "empty"})
    index = open_celeba([d, make_celeba(tmp_path / "d", n=40, seed=1)])
    monkeypatch.setattr(prepare, "PARALLEL_SIZES_FROM", 0)
    par = prepare.image_sizes(index, workers=2)
    assert np.array_equal(par, index.image_sizes()) and par.shape == (40, 2)
    assert par[4].tolist() == [0, 0] and par[:30].tolist().count([89, 109]) == 29
    assert par[30:].tolist() == [[178, 218]] * 10


def test_train_only_folder_builds_its_bundle_from_train_images(tmp_path, capsys):
    d = make_celeba(tmp_path / "trainonly", n=30, partitions=[0] * 30)
    out = tmp_path / "m.pt"
    run_cli(d, out, tmp_path / "cache", "--epochs", "1", "--bundle-splits", "valid,test", "--bundle-max-images", "20")
    printed = capsys.readouterr().out
    assert "per-epoch validation is skipped" in printed
    notes = [line for line in printed.splitlines() if "analysis bundle uses" in line]
    assert notes == ["note: no images in the valid,test split(s); the analysis bundle uses a seeded sample of "
                     "20 of the 30 train images"]
    vae = load_checkpoint(out)
    b = vae.bundle
    assert len(b) == 20 and b.info["splits"] == ["train"] and set(b.partition.tolist()) == {0}
    assert np.isfinite(b.tsne).all() and b.directions.shape == (40, 8)
    assert set(b.filenames) <= {f"{k:06d}.jpg" for k in range(1, 31)} and len(set(b.filenames)) == 20


def test_train_only_folder_with_the_default_flags_bundles_its_train_images(tmp_path, capsys):
    d = make_celeba(tmp_path / "trainonly", n=30, partitions=[0] * 30)
    run_cli(d, tmp_path / "m.pt", tmp_path / "cache", "--epochs", "1", "--no-tsne")  # returns: exit status 0
    assert "analysis bundle: 30 images of the train split(s)" in capsys.readouterr().out
    b = load_checkpoint(tmp_path / "m.pt").bundle
    assert len(b) == 30 and set(b.partition.tolist()) == {0}


def test_fallback_bundle_is_capped_without_a_maximum(tmp_path, monkeypatch):
    from train import export

    monkeypatch.setattr(export, "FALLBACK_MAX_IMAGES", 12)  # stands for 10,000 on a tiny folder
    d = make_celeba(tmp_path / "trainonly", n=30, partitions=[0] * 30)
    cache = load_or_build_cache(open_celeba(d), PreprocessConfig(image_size=32), tmp_path / "cache", workers=1,
                                progress=False)
    model = VAE(VAEConfig(image_size=32, latent_dim=8, channels=(8, 16, 16)))
    b = export.build_bundle(model, cache, [1, 2], "cpu", max_images=None, tsne=False, log=lambda m: None)
    assert len(b) == 12 and set(b.partition.tolist()) == {0}


def test_export_cli_on_a_train_only_folder(tmp_path, capsys):
    d = make_celeba(tmp_path / "trainonly", n=30, partitions=[0] * 30)
    run_cli(d, tmp_path / "m.pt", tmp_path / "cache", "--epochs", "1", "--no-export")
    assert load_checkpoint(tmp_path / "m.pt").bundle is None
    from train.export import main as export_main

    export_main([str(tmp_path / "m.pt"), "--data-dir", str(d), "--out", str(tmp_path / "e.pt"),
                 "--cache-dir", str(tmp_path / "cache"), "--no-tsne", "--splits", "valid,test"])
    assert "analysis bundle uses a seeded sample of 30 of the 30 train images" in capsys.readouterr().out
    b = load_checkpoint(tmp_path / "e.pt").bundle
    assert len(b) == 30 and b.info["splits"] == ["train"]
    # the map's faces travel in the file, decoded once here (issue 28: not on the app's first click)
    assert sprites.unbundled(b.sprites, len(b)).shape == (30, b.sprites["size"], b.sprites["size"], 3)


def test_export_cli_unites_folders_and_refuses_small_images(tmp_path, capsys):
    a = make_celeba(tmp_path / "a", n=30)
    run_cli(a, tmp_path / "m.pt", tmp_path / "cache", "--epochs", "1", "--no-export")
    small = make_celeba(tmp_path / "small", n=40, size=(30, 36), seed=1)
    from train.export import main as export_main

    base = [str(tmp_path / "m.pt"), "--data-dir", str(a), "--data-dir", str(small), "--splits", "all",
            "--out", str(tmp_path / "e.pt"), "--cache-dir", str(tmp_path / "cache"), "--no-tsne"]
    with pytest.raises(SystemExit) as e:
        export_main(base)
    assert f"{small}: 10 of 10 images are too small for 32x32" in str(e.value)
    export_main([*base, "--allow-upscale"])
    assert "30 duplicate ids" in capsys.readouterr().out
    assert len(load_checkpoint(tmp_path / "e.pt").bundle) == 40


# ----- resuming on another device type ----------------------------------------------------------------

CPU_STATE = torch.get_rng_state()  # the CPU generator's state: a Mersenne Twister, 5,056 bytes
# what torch.cuda.get_rng_state() returns: Philox's seed and offset, two int64, 16 bytes
CUDA_STATE = torch.tensor([1234, 0], dtype=torch.int64).view(torch.uint8)


def test_noise_generators_are_reused_only_on_the_device_type_and_world_that_saved_them():
    assert CPU_STATE.numel() == 5056 and CUDA_STATE.numel() == 16
    cpu = {"device": "cpu", "states": [CPU_STATE]}
    cuda = {"device": "cuda", "states": [CUDA_STATE]}
    assert loop.reseed_reason(cpu, "cpu", 1, CPU_STATE.numel()) is None
    assert loop.reseed_reason(cuda, "cuda", 1, CUDA_STATE.numel()) is None
    # a CPU run resumed on a GPU, and the reverse: the state would not fit the other generator
    assert loop.reseed_reason(cpu, "cuda", 1, CUDA_STATE.numel()) == \
        "the run was saved on cpu and continues on cuda"
    assert loop.reseed_reason(cuda, "cpu", 1, CPU_STATE.numel()) == \
        "the run was saved on cuda and continues on cpu"
    assert "saved by 1 process(es) and continues with 2" in loop.reseed_reason(cpu, "cpu", 2, CPU_STATE.numel())
    assert "5056 bytes of a cpu generator" in loop.reseed_reason({"device": "cpu", "states": [CUDA_STATE]}, "cpu", 1,
                                                                  CPU_STATE.numel())
    assert "earlier version" in loop.reseed_reason(None, "cpu", 1, CPU_STATE.numel())
    # the hazard these checks avoid: a generator refuses the other device type's state with a traceback
    with pytest.raises(RuntimeError):
        torch.Generator().set_state(CUDA_STATE)


def test_a_run_saved_on_a_gpu_resumes_on_the_cpu_with_a_note(tmp_path, data, capsys):
    """The checkpoint of a one-GPU run holds a CUDA generator state; the CPU run re-seeds its noise from
    the saved step, says so, and trains on from there like the saved run (same data order and flips)."""
    from explorer.checkpoint import atomic_torch_save

    cache = tmp_path / "cache"
    run_cli(data, tmp_path / "m.pt", cache, "--epochs", "1", "--no-export")
    ckpt = read_checkpoint_dict(tmp_path / "m.pt")
    assert ckpt["train_state"]["noise_rng"]["device"] == "cpu"
    ckpt["train_state"]["noise_rng"] = {"device": "cuda", "states": [CUDA_STATE]}
    atomic_torch_save(ckpt, tmp_path / "m.pt")
    capsys.readouterr()
    run_cli(data, tmp_path / "m.pt", cache, "--epochs", "2", "--no-export", "--resume")
    printed = capsys.readouterr().out
    assert ("note: --resume: the run was saved on cuda and continues on cpu; the reparameterisation noise is "
            "re-seeded from step 3") in printed
    after = read_checkpoint_dict(tmp_path / "m.pt")
    assert after["summary"]["epochs"] == 2 and np.isfinite(epoch_rows(after["history"])[1]["val_mse"])
    # the checkpoint now holds the CPU generator it continued with
    assert after["train_state"]["noise_rng"]["device"] == "cpu"
    assert after["train_state"]["noise_rng"]["states"][0].numel() == CPU_STATE.numel()


def test_the_data_plan_depends_on_seed_epoch_and_rank_only():
    a_idx, a_flip = loop.epoch_plan(0, 3, 100, 0, 2, 6, 8)
    b_idx, b_flip = loop.epoch_plan(0, 3, 100, 1, 2, 6, 8)
    assert a_idx.shape == (6, 8) and a_flip.dtype == torch.bool
    assert not set(a_idx.flatten().tolist()) & set(b_idx.flatten().tolist())  # one order, sliced per rank
    assert torch.equal(loop.epoch_plan(0, 3, 100, 0, 2, 6, 8)[0], a_idx)  # redrawn the same on a resume
    assert not torch.equal(loop.epoch_plan(0, 4, 100, 0, 2, 6, 8)[0], a_idx)  # a new order every epoch
    assert not torch.equal(a_flip, b_flip)  # flips are the rank's own


def test_resume_settings_make_a_new_config_and_leave_the_callers_alone():
    from train.config import resumed

    asked = loop.TrainConfig(data_dir="d", out="m.pt", lr=5e-4, sigma=0.3, latent_dim=128)
    saved_model = VAEConfig(image_size=32, latent_dim=8, channels=(8, 16, 16))
    saved = {"lr": 1e-3, "sigma": 0.4, "batch_size": 8, "seed": 3}
    cfg, notes = resumed(asked, saved_model, saved, frozenset({"lr"}), "m.pt")
    # unnamed settings and the architecture come from the checkpoint; the named --lr stays, with a note
    assert (cfg.image_size, cfg.latent_dim, cfg.channels) == (32, 8, (8, 16, 16))
    assert (cfg.sigma, cfg.batch_size, cfg.seed, cfg.lr) == (0.4, 8, 3, 5e-4)
    assert notes == ["note: --resume: --lr changes from 0.001 to 0.0005"]
    assert (asked.latent_dim, asked.sigma, asked.lr) == (128, 0.3, 5e-4)  # the caller's config is as it was
    with pytest.raises(SystemExit, match="m.pt holds a model with latent_dim 8, and the command asks for 128"):
        resumed(asked, saved_model, saved, frozenset({"latent_dim"}), "m.pt")
