"""Device choice and the optional torchrun/DDP set-up (gloo on CPU, nccl on GPU).

Why optional: one machine is the normal case. Under ``torchrun`` the environment carries
WORLD_SIZE/RANK/LOCAL_RANK and the same pre-training command becomes data-parallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def select_device(requested: str | None = None) -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(requested_device: str | None = None) -> DistributedContext:
    """Join the process group when launched by torchrun; otherwise a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(device=select_device(requested_device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and requested_device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, device=device)


def broadcast_from_main(value: float, ctx: DistributedContext) -> float:
    """Rank 0's ``value`` on every rank, so that all ranks take the same stop/continue decision.

    Why: a rank that leaves the epoch loop while another goes on hangs the next all-reduce, and
    validation losses (non-deterministic GPU kernels) and wall clocks can differ across ranks.
    """
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (e.g. while rank 0 writes the graph store the others will map)."""
    if ctx.enabled:
        dist.barrier()


def shutdown_distributed(ctx: DistributedContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
