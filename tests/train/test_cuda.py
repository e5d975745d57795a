"""The CUDA code path: skipped without a GPU (CI has none), run wherever one is lent.

    python -m pytest -m cuda          (bench/gpu_check.sh runs it, with the rest of the GPU checks)
"""
import pytest
import torch

from celeba_fixtures import make_celeba, synthetic_cache
from explorer import load_checkpoint
from explorer.checkpoint import read_checkpoint_dict
from train.cli import main as cli_main
from train.config import TrainConfig
from train.loop import Trainer

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

TINY = ["--image-size", "32", "--latent-dim", "8", "--channels", "8,16,16", "--batch-size", "8",
        "--warmup-steps", "2", "--no-progress"]


def _run(data, out, cache, *extra):
    cli_main(["--data-dir", str(data), "--out", str(out), "--cache-dir", str(cache), *TINY, "--no-tsne", *extra])


@pytest.mark.parametrize("extra", [[], ["--compile"]], ids=["eager", "compile"])
def test_training_on_cuda_keeps_data_on_the_device_in_bf16(tmp_path, extra):
    data = make_celeba(tmp_path / "celeba", n=40)
    out = tmp_path / "m.pt"
    _run(data, out, tmp_path / "cache", "--device", "cuda", "--epochs", "2", *extra)
    ckpt = read_checkpoint_dict(out)
    assert ckpt["summary"]["device"].startswith("cuda") and ckpt["summary"]["precision"] == "bf16"
    assert all(v.device.type == "cpu" and (v.dtype == torch.float32 or not v.is_floating_point())
               for v in ckpt["state_dict"].values())  # saved on the CPU, float32
    vae = load_checkpoint(out, device="cuda")
    x = torch.rand(2, 3, 32, 32)
    mu, _ = vae.encode(x)
    cpu = load_checkpoint(out, device="cpu")
    torch.testing.assert_close(mu, cpu.encode(x)[0], rtol=1e-3, atol=1e-3)  # the same model on both devices
    _run(data, out, tmp_path / "cache", "--device", "cuda", "--epochs", "3", "--resume", *extra)
    assert load_checkpoint(out).summary["epochs"] == 3


def _trainer(tmp_path, **kw):
    cfg = TrainConfig(data_dir="synthetic", out=str(tmp_path / "m.pt"), image_size=32, latent_dim=8,
                      channels=(8, 16, 16), batch_size=8, device="cuda", progress=False, warmup_steps=2, epochs=1,
                      log_every=10**6, **kw)
    return Trainer(cfg, log=lambda m: None, cache=synthetic_cache(n_train=64, n_valid=0))


def _force_host_staging(monkeypatch):
    """As if the set did not fit in half the free GPU memory: it stays in pinned host memory."""
    real = torch.cuda.mem_get_info
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (0, real(device)[1]))


@pytest.mark.parametrize("where", ["resident", "staged"])
@pytest.mark.parametrize("likelihood", ["fixed", "calibrated"])
def test_training_steps_make_no_hidden_host_sync(tmp_path, monkeypatch, where, likelihood):
    """A step that waits for the GPU (a .item(), a pageable copy, a tensor made from a Python number)
    caps the throughput; under sync debug mode "error" any such call raises."""
    if where == "staged":
        _force_host_staging(monkeypatch)
    tr = _trainer(tmp_path, likelihood=likelihood)
    assert tr.train_images.is_cuda == (where == "resident")
    batches = tr._batches()

    def step():
        _, idx, flip = next(batches)
        return tr.train_step(tr._as_input(tr._gather(idx), flip))

    for _ in range(2):  # warm-up: cuDNN's autotuning and the optimizer's first state may synchronise
        step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        stats = [step() for _ in range(4)]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(torch.isfinite(s).all() for s in stats)


def test_pinned_staging_trains_exactly_as_the_resident_set(tmp_path, monkeypatch):
    """Both buffers of the staging pair in use, on deterministic kernels: any batch read before its copy
    landed, or overwritten while in flight, would change the weights."""
    a = _trainer(tmp_path / "a", deterministic=True)
    a.train_epoch()
    _force_host_staging(monkeypatch)
    b = _trainer(tmp_path / "b", deterministic=True)
    assert not b.train_images.is_cuda and b.steps_per_epoch >= 4
    b.train_epoch()
    for k, w in a.model.state_dict().items():
        assert torch.equal(w, b.model.state_dict()[k]), k


def test_deterministic_resume_continues_bit_for_bit(tmp_path):
    data = make_celeba(tmp_path / "celeba", n=40)
    cache = tmp_path / "cache"
    _run(data, tmp_path / "full.pt", cache, "--device", "cuda", "--deterministic", "--epochs", "2", "--no-export")
    _run(data, tmp_path / "part.pt", cache, "--device", "cuda", "--deterministic", "--epochs", "1", "--no-export")
    _run(data, tmp_path / "part.pt", cache, "--device", "cuda", "--deterministic", "--epochs", "2", "--no-export",
         "--resume")
    a, b = read_checkpoint_dict(tmp_path / "full.pt"), read_checkpoint_dict(tmp_path / "part.pt")
    for k, w in a["state_dict"].items():
        assert torch.equal(w, b["state_dict"][k]), k


@pytest.mark.parametrize("first,then", [("cpu", "cuda"), ("cuda", "cpu")])
def test_a_run_moves_between_cpu_and_gpu_on_resume(tmp_path, capsys, first, then):
    data = make_celeba(tmp_path / "celeba", n=40)
    out, cache = tmp_path / "m.pt", tmp_path / "cache"
    _run(data, out, cache, "--device", first, "--epochs", "1", "--no-export")
    capsys.readouterr()
    _run(data, out, cache, "--device", then, "--epochs", "2", "--no-export", "--resume")
    assert f"the run was saved on {first} and continues on {then}" in capsys.readouterr().out
    ckpt = read_checkpoint_dict(out)
    assert ckpt["summary"]["epochs"] == 2 and ckpt["train_state"]["noise_rng"]["device"] == then
