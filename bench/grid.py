"""Benchmark: a map of 1,000,000 cells, predicted chunk by chunk -- throughput and peak memory.

A BINN (the paper's MLP head, 3 x 128, learning the four most influential CLM5 parameters, with
the normalizer of the bundled example's sites) predicts every cell of a
:class:`~binn_lite.grid.SyntheticGrid` over the conterminous US: covariates and CLM5 forcing are
generated chunk by chunk (``--chunk-size`` cells), the head gives the parameters, CLM5 the SOC at
its 20 nodes and the stock, and each chunk is written to a NetCDF file (deleted at the end) before
the next is made. Timed: everything, generation of the synthetic inputs included.

Peak memory is the process's peak resident set (``ru_maxrss``). It should not grow with the
number of cells, only with the chunk size: run ``--cells 100000`` and ``--cells 1000000`` and
compare. One torch thread (``--threads``), as on the 2 shared cores this was measured on.

Last line: ``grid: <n> cells, <r> cells/s, peak <m> MB``.
"""
from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.data import load_example
from binn_lite.grid import DEFAULT_CHUNK_SIZE, SyntheticGrid, predict_grid
from binn_lite.heads import MLPHead


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 ** 2 if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000, help="cells in the map (a near-square grid)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    example = load_example()
    binn = BINN(MLPHead(len(example.feature_names), 4, seed=0), CLM5(), learn="most_influential")
    binn.normalizer = example.fit_normalizer(np.arange(len(example)))
    n_lat = max(d for d in range(1, math.isqrt(args.cells) + 1) if args.cells % d == 0)  # near-square
    n_lon = args.cells // n_lat
    grid = SyntheticGrid(n_lat, n_lon, seed=0)
    print(f"set-up: {n_lat} x {n_lon} grid, chunks of {args.chunk_size:,} cells, peak {peak_mb():.0f} MB")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "map.nc"
        cpu = time.process_time()
        summary = predict_grid(binn, grid, path, chunk_size=args.chunk_size, progress=False)
        cpu = time.process_time() - cpu
        size = path.stat().st_size / 1024 ** 2
    print(f"file: {size:.0f} MB; wall {summary['seconds']:.1f} s, CPU {cpu:.1f} s "
          f"({summary['cells'] / cpu:.0f} cells per CPU second; wall > CPU when other processes share the cores)")
    print(f"grid: {summary['cells']} cells, {summary['cells_per_second']:.0f} cells/s, peak {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
