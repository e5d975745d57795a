"""The CUDA code path: skipped without a GPU (CI has none), run wherever one is lent.

    python -m pytest -m cuda
"""
import pytest
import torch

from celeba_fixtures import make_celeba
from explorer import load_checkpoint
from explorer.checkpoint import read_checkpoint_dict
from train.cli import main as cli_main

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

TINY = ["--image-size", "32", "--latent-dim", "8", "--channels", "8,16,16", "--batch-size", "8",
        "--warmup-steps", "2", "--no-progress"]


@pytest.mark.parametrize("extra", [[], ["--compile"]], ids=["eager", "compile"])
def test_training_on_cuda_keeps_data_on_the_device_in_bf16(tmp_path, extra):
    data = make_celeba(tmp_path / "celeba", n=40)
    out = tmp_path / "m.pt"
    cli_main(["--data-dir", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TINY,
              "--device", "cuda", "--epochs", "2", "--no-tsne", *extra])
    ckpt = read_checkpoint_dict(out)
    assert ckpt["summary"]["device"].startswith("cuda") and ckpt["summary"]["precision"] == "bf16"
    assert all(v.device.type == "cpu" and (v.dtype == torch.float32 or not v.is_floating_point())
               for v in ckpt["state_dict"].values())  # saved on the CPU, float32
    vae = load_checkpoint(out, device="cuda")
    x = torch.rand(2, 3, 32, 32)
    mu, _ = vae.encode(x)
    cpu = load_checkpoint(out, device="cpu")
    torch.testing.assert_close(mu, cpu.encode(x)[0], rtol=1e-3, atol=1e-3)  # the same model on both devices
    cli_main(["--data-dir", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TINY,
              "--device", "cuda", "--epochs", "3", "--no-tsne", "--resume", *extra])
    assert load_checkpoint(out).summary["epochs"] == 3
