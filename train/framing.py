"""Train the framing network of explorer/faces/framing.py on CelebA's aligned images.

    python -m train.framing --data-dir ../shared/celeba-sample --data-dir ../shared/celeba-extra-halfres \
        --out runs/framing-1.pt --epochs 16
    python -m train.framing --data-dir ../shared/celeba-sample --data-dir ../shared/celeba-extra-halfres \
        --init runs/framing-1.pt --lr 5e-4 --small-moves 0.5 --epochs 10 --out runs/framing-2.pt
    python -m train.framing --data-dir ../shared/celeba-sample --data-dir ../shared/celeba-extra-halfres \
        --init runs/framing-2.pt --lr 3e-4 --small-moves 0.3 --epochs 14 --out runs/framing-3.pt
    python -m train.framing --data-dir ../shared/celeba-sample --data-dir ../shared/celeba-extra-halfres \
        --init runs/framing-3.pt --lr 3e-4 --small-moves 0.3 --epochs 10 --out explorer/faces/framing.pt

(The first three stages were trained before the network was made blind to the crop's edges,
explorer.faces.framing.BLIND; the fourth is the third's recipe again, with the edges hidden.)

Every train-partition image is read once at half resolution (89×109: the official 178×218 images are
2×2-averaged, the half-resolution ones taken as they are) and kept in memory as uint8 (0.4 GB for 15,000
images). Each step shows a batch moved by random similarities (explorer.faces.framing.random_moves, after a
random mirror) and minimises the mean squared distance, over the model's crop, between where the predicted
move and the true one put the grid points: the framing error itself, in pixels. The valid partition, when
there is one, is scored after every epoch. The weights are written atomically, in float16 (0.7M
parameters, 1.5 MB).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from explorer.faces import framing
from explorer.celeba import open_celeba
from explorer.checkpoint import atomic_torch_save


def load_half_frames(index, rows) -> torch.Tensor:
    """The images at ``rows`` as (N,3,109,89) uint8. Only CelebA's aligned frame, full or half size, is
    accepted: anything else is refused with the file's name."""
    out = np.empty((len(rows), framing.HALF[1], framing.HALF[0], 3), np.uint8)
    for k, i in enumerate(rows):
        img = index.open_image(int(i)).convert("RGB")
        if img.size == framing.FRAME:
            img = img.reduce(2)
        if img.size != framing.HALF:
            raise ValueError(f"{index.image_path(int(i))}: {img.width}×{img.height} is not CelebA's aligned frame "
                             f"({framing.FRAME[0]}×{framing.FRAME[1]}, or half that); the framing network learns "
                             "CelebA's framing and needs its aligned images")
        out[k] = np.asarray(img)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def valid_error(net: framing.FramingNet, frames: torch.Tensor, seed: int = 1) -> tuple[float, float]:
    """Mean framing error (px) left after one prediction, on moved frames and on the frames as they are."""
    net.eval()
    with torch.no_grad():
        moves = framing.random_moves(len(frames), torch.Generator().manual_seed(seed))
        moved = framing.framing_rms(net(framing.warp_half(frames, moves)), moves).mean()
        still = torch.zeros(len(frames), 4)
        unmoved = framing.framing_rms(net(framing.warp_half(frames, still)), still).mean()
    return float(moved), float(unmoved)


def train(frames: torch.Tensor, valid: torch.Tensor | None, epochs: int, batch: int = 128, lr: float = 2e-3,
          seed: int = 0, init: framing.FramingNet | None = None, small_moves: float = 1.0,
          log=print) -> framing.FramingNet:
    """``init``: go on from these weights (the later stages). ``small_moves`` < 1: 70% of the batches are
    moved by at most that share of the full range, which trains precision where the landmark fit leaves
    a face (about 2.7 px off); the other 30% keep the full range."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = init or framing.FramingNet()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = max(1, len(frames) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch,
                                                pct_start=0.3 if init is None else 0.1)
    grid = framing.crop_grid()
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(frames), generator=gen)
        total = 0.0
        for s in range(per_epoch):
            x = frames[order[s * batch:(s + 1) * batch]]
            mirror = torch.rand(len(x), generator=gen) < 0.5  # CelebA's framing is left-right symmetric
            x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(3), x)
            scale = small_moves if small_moves < 1 and torch.rand(1, generator=gen).item() < 0.7 else 1.0
            moves = framing.random_moves(len(x), gen, scale=scale)
            pred = net(framing.warp_half(x, moves))
            loss = (framing.apply_move(pred, grid) - framing.apply_move(moves, grid)).pow(2).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        msg = f"epoch {epoch + 1}/{epochs}: train RMS {math.sqrt(total / per_epoch):.2f} px"
        if valid is not None and len(valid):
            moved, unmoved = valid_error(net, valid)
            msg += f"; valid: {moved:.2f} px left of a random move, {unmoved:.2f} px on the unmoved images"
        log(msg + f" ({time.perf_counter() - t0:.0f} s)")
    return net.eval()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", action="append", required=True, help="CelebA folder; several times to unite them")
    p.add_argument("--out", default=str(framing.WEIGHTS))
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--init", default=None, help="go on from these weights (a later stage)")
    p.add_argument("--small-moves", type=float, default=1.0,
                   help="below 1: 70%% of the batches are moved by at most this share of the full range")
    a = p.parse_args(argv)
    index = open_celeba(a.data_dir)
    t0 = time.perf_counter()
    frames = load_half_frames(index, np.flatnonzero(index.partition == 0))
    valid = load_half_frames(index, np.flatnonzero(index.partition == 1))
    print(f"{len(frames)} train and {len(valid)} valid images read in {time.perf_counter() - t0:.0f} s", flush=True)
    if not len(frames):
        print("no train-partition images: nothing to learn from", file=sys.stderr)
        return 2
    init = framing.FramingNet.load(a.init) if a.init else None
    net = train(frames, valid, a.epochs, a.batch, lr=a.lr, seed=a.seed, init=init, small_moves=a.small_moves,
                log=lambda m: print(m, flush=True))
    atomic_torch_save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
