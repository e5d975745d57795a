"""Distributed setup and teardown: which process this is, which device it drives, the process group.

The order matters on GPUs, so the trainer calls these in three steps: `from_env` (no CUDA, no
process group: data preparation may still fork worker processes), then `device_for` and `start`
(CUDA context, NCCL communicators), and `stop` once training is over on every rank.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def local_main(self) -> bool:
        """The first process on its machine: it builds the data cache there (nodes need not share a disk)."""
        return self.local_rank == 0

    def barrier(self):
        if self.enabled and dist.is_initialized():
            dist.barrier()


def from_env() -> Dist:
    """torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")),
                int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))


def shares_gpus(d: Dist) -> bool:
    """More processes than GPUs on this machine: they share GPUs round-robin. Only for exercising the
    DDP path on a one-GPU machine (NCCL refuses two ranks on one device, so the group is gloo's)."""
    return d.local_world > torch.cuda.device_count()


def wants_cuda(device_pref: str) -> bool:
    """Asks the driver for a device count only: no CUDA context yet, so forking worker processes stays safe."""
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA device")
    return device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())


def device_for(d: Dist, device_pref: str) -> torch.device:
    if not wants_cuda(device_pref):
        return torch.device("cpu")
    index = d.local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def start(d: Dist, device: torch.device, log=print) -> None:
    """Join the process group: NCCL on GPUs, bound to this rank's device up front (device_id), gloo on
    CPUs. Called after the data is prepared, so no rank waits in a collective while another decodes
    images and the default collective timeout only ever covers training steps."""
    if not d.enabled or dist.is_initialized():
        return
    if device.type == "cuda" and not shares_gpus(d):
        dist.init_process_group("nccl", device_id=device)
        return
    if device.type == "cuda":
        log(f"note: {d.local_world} processes share {torch.cuda.device_count()} GPU(s) on this machine: the "
            f"process group is gloo's (NCCL refuses two ranks on one device); a test setup, not a fast one")
    dist.init_process_group("gloo")


def stop(d: Dist) -> None:
    """Leave the process group in order: a last barrier, so no rank tears down while a peer is still in
    a collective, then destroy_process_group while the interpreter is whole. The caller must have
    dropped every other reference to the group first (the DDP wrapper): a gloo group that is freed
    only at interpreter exit can abort the process (`terminate called without an active exception`)."""
    if d.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
