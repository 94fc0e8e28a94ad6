"""Data-parallel training over several processes: ``torch.distributed``, launched by ``torchrun``.

One machine with 4 GPUs, or 4 CPU processes::

    torchrun --standalone --nproc-per-node 4 -m binn_lite train run.yaml

Two machines (the same command on each; the endpoint is any one of them, a port it has free)::

    torchrun --nnodes 2 --nproc-per-node 4 \\
             --rdzv-backend c10d --rdzv-endpoint first-machine:29500 --rdzv-id my-run \\
             -m binn_lite train run.yaml

``torchrun`` starts the processes and tells each its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``
and where to meet (``MASTER_ADDR``/``MASTER_PORT``, or the rendezvous endpoint) in environment
variables; :func:`init` joins that group (``init_method="env://"``), so no address or port is
ever written in binn_lite or in a config. The backend is NCCL when the run is on CUDA (each
process takes the GPU ``LOCAL_RANK``) and gloo on the CPU.

What each process does
----------------------
Every process loads the whole dataset, fits the same normalizer, builds the same BINN (same seed;
the weights of process 0 are broadcast at the start to be sure) and draws the same minibatch order.
Each *global* minibatch of ``batch_size`` sites (:class:`~binn_lite.train.FitSettings`) is cut
into ``world_size`` consecutive pieces: the *per-process* batch is ``batch_size / world_size``
sites, and ``batch_size`` keeps its single-process meaning, so the learning rate needs no change.
After the backward pass the gradients are summed over the processes with one ``all_reduce``,
each weighted by its number of finite observations, and divided by the total::

    g = sum_r n_r g_r / sum_r n_r

which is exactly the gradient of the masked loss of the whole global batch (the loss is a mean
over observations, :mod:`binn_lite.losses`). Every process then takes the same optimiser step,
so the weights stay identical without being sent around; trained parameters equal those of one
process with the same ``batch_size`` and seed up to float round-off (``tests/test_distributed.py``).
This is what ``torch.nn.parallel.DistributedDataParallel`` does, written out: DDP averages the
gradients unweighted and needs the whole step inside one ``forward``, while the trainer calls the
head and the process model separately (to check each for NaN), and the heads are small enough
that DDP's overlap of communication with the backward pass buys nothing.

Caveats: a head with batch normalisation normalises over the per-process batch (as DDP without
``SyncBatchNorm``); dropout masks differ from a single process; penalties that depend on the
batch (a KAN's activations) are averaged over the processes. Validation runs in full on every
process (the same numbers everywhere, so early stopping agrees). Only process 0 writes files
(checkpoints, the saved BINN, predictions) and shows progress bars: test :func:`is_main`.
An error raised on one process only (a NaN loss in its share of the batch, say) leaves the others
waiting in the next collective call: torchrun's ``--max-restarts 0`` (the default) then ends the
whole job once that process exits, but a hung job is possible with other launchers; set
``TORCH_NCCL_ASYNC_ERROR_HANDLING=1`` (NCCL) or a timeout in :func:`init` to bound the wait.
"""
from __future__ import annotations

import datetime
import os
from typing import Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import BinnInputError

__all__ = ["init", "shutdown", "rank", "world_size", "is_main", "launched", "DataParallel"]


def launched() -> bool:
    """True inside a process started by ``torchrun`` (``WORLD_SIZE`` and ``RANK`` are set)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init(device: str | torch.device = "cpu", timeout_minutes: float | None = None) -> torch.device:
    """Join torchrun's process group (env://) and return this process's device.

    ``device``: ``"cuda"`` (NCCL; this process uses GPU ``LOCAL_RANK``) or ``"cpu"`` (gloo). Does
    nothing but return the device when not launched by torchrun or already initialised.
    ``timeout_minutes``: how long a collective call waits for the other processes (torch's default
    when None) before it fails instead of hanging.
    """
    device = torch.device(device)
    if device.type == "cuda" and launched():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if launched() and not dist.is_initialized():
        timeout = None if timeout_minutes is None else datetime.timedelta(minutes=timeout_minutes)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://", timeout=timeout)
    return device


def shutdown() -> None:
    """Leave the process group (call once at the end of a torchrun script)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    """This process's number, 0 .. world_size - 1 (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """True in the process that writes files: rank 0 (or the only one)."""
    return rank() == 0


class DataParallel:
    """The trainer's hook into the process group (see the module docstring).

    :meth:`current` gives None in a single process, so the trainer runs unchanged there.
    """

    def __init__(self) -> None:
        self.rank, self.world_size = rank(), world_size()

    @classmethod
    def current(cls) -> "DataParallel | None":
        """A DataParallel when a process group of more than one process is initialised, else None."""
        return cls() if dist.is_initialized() and dist.get_world_size() > 1 else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, module: nn.Module) -> None:
        """Give every process the weights and buffers of process 0."""
        with torch.no_grad():
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def shard(self, rows: Tensor) -> Tensor:
        """This process's consecutive piece of a global minibatch ``rows`` (site positions)."""
        if len(rows) < self.world_size:
            raise BinnInputError(f"a minibatch of {len(rows)} sites cannot be split over {self.world_size} "
                                 f"processes; use a batch_size that leaves at least {self.world_size} sites in the "
                                 "last minibatch, or fewer processes")
        return torch.tensor_split(rows, self.world_size)[self.rank]

    def average_gradients(self, params: Sequence[Tensor], value: Tensor, data_loss: Tensor,
                          targets: Tensor) -> tuple[Tensor, Tensor]:
        """Replace each gradient by the observation-weighted mean over the processes; return the
        objective and data loss of the whole global batch (same weights)."""
        weight = torch.isfinite(targets).sum().to(value.dtype)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads] + [value.detach().reshape(1), data_loss.reshape(1),
                                                           torch.ones(1, dtype=value.dtype, device=value.device)])
        flat = flat * weight
        dist.all_reduce(flat)
        flat = flat / flat[-1]
        offset = 0
        for p, g in zip(params, grads):
            p.grad = flat[offset:offset + g.numel()].view_as(g).to(g.dtype)
            offset += g.numel()
        return flat[-3], flat[-2]
