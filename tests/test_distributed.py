"""Two CPU processes (gloo) train to the parameters of one process with the same global batch.

The processes are started with torch.multiprocessing and given the environment torchrun would
give them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT on a free port); binn_lite itself only reads
it (env://). Tolerance: float64 training, every weight within 1e-9 of the single-process run --
the only difference is the order in which the gradient sums are added up.
"""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from binn_lite import distributed
from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.data import make_synthetic
from binn_lite.heads import MLPHead
from binn_lite.train import fit

SETTINGS = dict(epochs=3, batch_size=16, lr=1e-2, patience=100, progress=False, seed=3, dtype=torch.float64,
                num_threads=1)
TOLERANCE = 1e-9


def _train(data) -> BINN:
    binn = BINN(MLPHead(10, 4, hidden=(16, 16), seed=0), CLM5(), learn="most_influential")
    fit(binn, data, **SETTINGS)
    return binn


def _worker(rank: int, world: int, port: int, out: str, data) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    distributed.init("cpu")
    try:
        binn = _train(data)
        if distributed.is_main():  # only rank 0 writes
            torch.save(binn.state_dict(), out)
    finally:
        distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    data, out = make_synthetic(40, seed=5), tmp_path / "rank0.pt"
    # forked, not spawned: the children start in milliseconds instead of importing torch again
    mp.start_processes(_worker, args=(2, _free_port(), str(out), data), nprocs=2, join=True, start_method="fork")
    parallel = torch.load(out, weights_only=True)
    single = _train(data).state_dict()
    assert parallel.keys() == single.keys()
    for name, value in single.items():
        assert torch.allclose(parallel[name], value, rtol=0, atol=TOLERANCE), name


def test_single_process_helpers():
    assert distributed.DataParallel.current() is None
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.init("cpu") == torch.device("cpu")  # not under torchrun: nothing to join


def test_a_batch_too_small_to_split_is_named():
    shards = distributed.DataParallel.__new__(distributed.DataParallel)
    shards.rank, shards.world_size = 0, 4
    assert shards.shard(torch.arange(9)).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot be split over 4 processes"):
        shards.shard(torch.arange(3))
