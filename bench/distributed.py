"""Benchmark: training throughput (sites per second) with 1 and 2 processes, side by side.

Each run is started the way a user starts one, with torchrun on this machine::

    python -m torch.distributed.run --standalone --nproc-per-node N bench/distributed.py --worker

and trains the paper's MLP head (3 x 128) on the bundled example (1,500 sites, the four most
influential CLM5 parameters) for ``--epochs`` epochs, global batch 256, one torch thread per
process, no early stopping. Throughput = training sites x epochs / seconds of the epoch loop
(from fit's history; the set-up, process start and data loading are not counted). With 2
processes each computes half of every global batch and the gradients are averaged with gloo
(:mod:`binn_lite.distributed`); the trained weights equal those of one process.

What to expect on a 2-core machine: at best twice the throughput (each process has a core), less
the validation that every process repeats in full and one all-reduce per step; on cores shared
with other work, the second process competes with it and the gain shrinks or vanishes. The script
prints the machine's load average next to the figures.

Last line: ``distributed: 1 process <a> sites/s, 2 processes <b> sites/s (x<b/a>)``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def worker(epochs: int, out: str) -> None:
    """One torchrun process: train, and (rank 0) write the timing to ``out``."""

    from binn_lite import distributed
    from binn_lite.binn import BINN
    from binn_lite.clm5 import CLM5
    from binn_lite.data import load_example
    from binn_lite.heads import MLPHead
    from binn_lite.train import fit

    distributed.init("cpu")
    try:
        data = load_example()
        binn = BINN(MLPHead(len(data.feature_names), 4, seed=0), CLM5(), learn="most_influential")
        result = fit(binn, data, epochs=epochs, batch_size=256, patience=epochs, seed=0, num_threads=1,
                     progress=False)
        times = result.history["time"].to_numpy()
        seconds = float(times[-1] - times[0])  # epochs 2..E: the first one warms up
        if distributed.is_main():
            Path(out).write_text(json.dumps({"sites_per_second": len(result.train_idx) * (epochs - 1) / seconds,
                                             "seconds": seconds, "world_size": distributed.world_size(),
                                             "train_sites": int(len(result.train_idx)),
                                             "final_train_loss": float(result.history["train_loss"].iloc[-1]),
                                             "check": sum(float(p.detach().double().sum()) for p in binn.parameters())}))
    finally:
        distributed.shutdown()


def launch(n_processes: int, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "timing.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n_processes}",
                   __file__, "--worker", "--epochs", str(epochs), "--out", str(out)]
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=11)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.epochs, args.out)
        return
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    runs = {n: launch(n, args.epochs) for n in (1, 2)}
    for n, run in runs.items():
        print(f"{n} process(es): {run['sites_per_second']:.0f} sites/s ({run['train_sites']} training sites, "
              f"{args.epochs - 1} timed epochs in {run['seconds']:.1f} s), final training loss "
              f"{run['final_train_loss']:.6f}, weight sum {run['check']:.6f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    one, two = runs[1]["sites_per_second"], runs[2]["sites_per_second"]
    print(f"distributed: 1 process {one:.0f} sites/s, 2 processes {two:.0f} sites/s (x{two / one:.2f})")


if __name__ == "__main__":
    main()
