"""torch.distributed plumbing: start from torchrun's environment, agree on steps, check ranks stay identical."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import distributed, nn


@dataclass(frozen=True)
class Distributed:
    """Where this process stands: rank, world size and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        """True when training runs in several processes."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes the run folder."""
        return self.rank == 0


def resolve_device(requested: str, local_rank: int) -> torch.device:
    """The device for `requested` (auto/cpu/cuda[:N]); under torchrun every rank takes cuda:LOCAL_RANK."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available")
    if requested.startswith("cuda:"):
        return torch.device(requested)
    return torch.device("cuda", local_rank)


def launched_rank() -> int:
    """This process's global rank as torchrun set it (0 when run alone)."""
    return int(os.environ.get("RANK", "0"))


def launched_world_size() -> int:
    """How many ranks torchrun started (1 when run alone)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(requested_device: str) -> Distributed:
    """Join the process group torchrun describes (nccl on GPU, gloo on CPU), or run alone."""
    world_size = launched_world_size()
    rank, local_rank = launched_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(requested_device, local_rank)
    if world_size > 1 and not distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        distributed.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return Distributed(rank, world_size, local_rank, device)


def shutdown(dist: Distributed, finished: bool = False) -> None:
    """Leave the process group (if we joined one); `finished`: all ranks completed.

    A finished run only meets at a barrier and keeps the group: destroying it tears down gloo's threads, which
    under load sometimes aborts a rank ("terminate called without an active exception"); the `fit` command then
    ends the process without teardown. After a failure there is no barrier (the other ranks may never arrive).
    """
    if dist.enabled and distributed.is_initialized():
        if finished:
            distributed.barrier()
            return
        distributed.destroy_process_group()


def agree_to_step(dist: Distributed, have_batch: bool, batch_usable: bool) -> tuple[bool, bool]:
    """(continue, step) agreed by all ranks: stop when any rank ran out, skip when any rank's batch is empty.

    Streamed shards give ranks unequal sample counts; without this the longer ranks would wait forever in DDP's
    gradient all-reduce.
    """
    if not dist.enabled:
        return have_batch, have_batch and batch_usable
    status = torch.tensor([int(have_batch), int(have_batch and batch_usable)], device=dist.device)
    distributed.all_reduce(status, op=distributed.ReduceOp.MIN)
    return bool(status[0]), bool(status[1])


def sum_over_ranks(dist: Distributed, values: list[float]) -> list[float]:
    """Element-wise sum of `values` over all ranks."""
    if not dist.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=dist.device)
    distributed.all_reduce(tensor)
    return tensor.tolist()


def broadcast_buffers(dist: Distributed, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics drift per rank between DDP's broadcasts)."""
    if dist.enabled:
        for buffer in model.buffers():
            distributed.broadcast(buffer, src=0)


def state_sha256(model: nn.Module) -> str:
    """Hash of every parameter and buffer, in state_dict order (equal hashes = identical weights)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gather_strings(dist: Distributed, value: str) -> list[str]:
    """`value` from every rank, in rank order."""
    if not dist.enabled:
        return [value]
    gathered: list[object] = [None] * dist.world_size
    distributed.all_gather_object(gathered, value)
    return [str(item) for item in gathered]


def broadcast_string(dist: Distributed, value: str) -> str:
    """Rank 0's `value` on every rank."""
    if not dist.enabled:
        return value
    holder: list[object] = [value]
    distributed.broadcast_object_list(holder, src=0)
    return str(holder[0])
