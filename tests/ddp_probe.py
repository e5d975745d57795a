"""Run one short epoch with DistributedDataParallel and save what this rank saw and ended with.

Not a test by itself: tests/train/test_train.py runs it as
    torchrun --standalone --nproc_per_node=2 tests/ddp_probe.py OUT_DIR
and compares the ranks with each other and with one process replaying the same batches.
"""
import sys

import torch

from celeba_fixtures import synthetic_cache
from train import loop

PROBE = dict(data_dir="synthetic", image_size=32, latent_dim=8, channels=(8, 16, 16), batch_size=8, device="cpu",
             progress=False, likelihood="fixed", sigma=0.3, warmup_steps=2, epochs=1)
N_TRAIN = 32


def main(out_dir: str) -> None:
    trainer = loop.Trainer(loop.TrainConfig(out=f"{out_dir}/ddp.pt", **PROBE), log=lambda m: None,
                           cache=synthetic_cache(n_train=N_TRAIN, n_valid=0))
    seen, noise_rng = [], []
    batches = trainer._batches

    def recording():
        for b, idx, flip in batches():
            seen.append((idx.clone(), flip.clone()))
            noise_rng.append(torch.get_rng_state())  # the step's reparameterisation noise comes from here
            yield b, idx, flip

    trainer._batches = recording
    init = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train_epoch()
    torch.save({"init": init, "noise_rng": noise_rng, "seen": seen, "world": trainer.dist.world,
                "params": {k: v.detach().clone() for k, v in trainer.model.named_parameters()}},
               f"{out_dir}/rank{trainer.dist.rank}.pt")
    trainer.close()


if __name__ == "__main__":
    main(sys.argv[1])
