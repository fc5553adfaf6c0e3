"""Process-group set-up and the few collectives the trainer needs (PyTorch DDP, launched by ``torchrun``).

``torchrun --nproc-per-node N`` (one or several nodes) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` for every process; :func:`dist_info_from_env` reads them and
:func:`setup_distributed` joins the group with the ``env://`` rendezvous (``nccl`` on CUDA, ``gloo`` on CPU).
A plain ``python``/``hent-srt`` run has none of these variables and is a group of one: every helper below is
then a no-op that returns its input.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "all_ranks_agree",
    "all_reduce_sum",
    "barrier",
    "cleanup_distributed",
    "dist_info_from_env",
    "find_free_port",
    "select_device",
    "setup_distributed",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global ``rank`` in ``[0, world_size)`` and ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that writes files, logs and TensorBoard (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"environment variable {name}={raw!r} is not an integer; launch with torchrun, which sets it"
        ) from None


def dist_info_from_env(environ: Mapping[str, str] | None = None) -> DistInfo:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (as set by torchrun); absent means a single process."""
    env = os.environ if environ is None else environ
    world_size = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local_rank = _env_int(env, "LOCAL_RANK", rank)
    if world_size < 1:
        raise ValueError(f"WORLD_SIZE={world_size}: must be >= 1; launch with torchrun --nproc-per-node N")
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank}: must be in [0, WORLD_SIZE={world_size}); launch with torchrun")
    if local_rank < 0:
        raise ValueError(f"LOCAL_RANK={local_rank}: must be >= 0; launch with torchrun")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def select_device(info: DistInfo) -> torch.device:
    """``cuda:<local_rank>`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        if info.local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK={info.local_rank} but only {torch.cuda.device_count()} CUDA devices are visible; "
                "start at most one process per GPU (torchrun --nproc-per-node <number of GPUs>)"
            )
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def setup_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (``env://`` rendezvous) when ``info.world_size > 1``; no-op otherwise.

    ``nccl`` is used for CUDA devices (after selecting this process's GPU), ``gloo`` for the CPU.
    """
    if not info.is_distributed or dist.is_initialized():
        return
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={info.world_size} but {', '.join(missing)} is not set; launch with torchrun, which sets it"
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, init_method="env://", rank=info.rank, world_size=info.world_size)


def cleanup_distributed() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every process (no-op for a single process)."""
    if _active():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of ``tensor`` over all processes, in place; returns ``tensor``."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_ranks_agree(flag: bool, device: torch.device) -> bool:
    """True only if ``flag`` is true on every process (a logical AND across ranks)."""
    value = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
    if _active():
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def all_gather_objects(obj: Any) -> list[Any]:
    """Picklable ``obj`` of every process, indexed by rank (``[obj]`` for a single process)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def find_free_port() -> int:
    """A TCP port on localhost that was free a moment ago (for ``MASTER_PORT`` in single-node tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
