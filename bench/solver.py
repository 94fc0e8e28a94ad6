"""Benchmark: the CLM5 steady state, solved and differentiated.

1. The 140 x 140 steady-state solve (assembled from real CLM5 blocks: 20 layers x 7 pools) by 7 x 7
   block elimination vs dense, forward and forward+backward, for several batch sizes and both float
   precisions, side by side in one run; the headline ratio at batch 1024, float32.
2. The whole model (assembly + solve) forward+backward per site, float64, batch 256, as ``fit`` trains
   with ``learn="most_influential"`` (the :meth:`CLM5.precompute` cache + the pool-staged solve), next
   to the code of the release before issue 14 ("speed", which measured 0.056 ms per site then),
   taken from git history; each in a fresh interpreter, timed alternately in one run; the ratio.

Run: ``python bench/solver.py`` (add ``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from binn_lite.blocksolve import block_tridiagonal_solve, dense_solve
from binn_lite.clm5 import CLM5_PARAMETERS, Forcing, ZSOI  # names the release before issue 14 had too
from release import RELEASE_BEFORE_SPEEDUP, release_checkout


def example_sites(batch: int, dtype: torch.dtype) -> tuple[torch.Tensor, Forcing]:
    """Random physical parameters [batch, 21] and a mild climate for ``batch`` sites."""
    g = torch.Generator().manual_seed(0)
    month = torch.arange(12, dtype=torch.float64)
    temperature = 283.0 + 10 * torch.sin(2 * torch.pi * month / 12)[None, :, None] * torch.exp(-ZSOI / 2)
    forcing = Forcing(
        litter_input=10 + 10 * torch.rand(batch, 12, 4, generator=g, dtype=torch.float64),
        soil_temperature=temperature.expand(batch, 12, 20).clone(),
        water_scalar=0.05 + 0.25 * torch.rand(batch, 12, 20, generator=g, dtype=torch.float64),
        oxygen_scalar=torch.ones(batch, 12, 20, dtype=torch.float64),
        nitrogen_scalar=0.5 + 0.5 * torch.rand(batch, 12, 20, generator=g, dtype=torch.float64),
        altmax=torch.full((batch, 12), 3.0, dtype=torch.float64),
        altmax_lastyear=torch.full((batch, 12), 3.0, dtype=torch.float64),
        bedrock=torch.full((batch,), 20),
    ).to(dtype=dtype)
    params = CLM5_PARAMETERS.to_physical(torch.rand(batch, 21, generator=g, dtype=torch.float64)).to(dtype)
    return params, forcing


def example_blocks(batch: int, dtype: torch.dtype):
    """Real CLM5 system blocks for ``batch`` sites with random parameters and a mild climate."""
    from binn_lite.clm5 import system_blocks

    return [t.detach() for t in system_blocks(*example_sites(batch, dtype))]


def best_time_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def measure(solve, blocks, backward: bool, repeats: int) -> float:
    def run():
        inputs = [b.clone().requires_grad_(backward) for b in blocks]
        x = solve(*inputs)
        if backward:
            x.sum().backward()
    if backward:
        return best_time_ms(run, repeats)
    with torch.no_grad():
        return best_time_ms(run, repeats)


#: one measurement in a fresh interpreter, with whichever binn_lite is on PYTHONPATH (then and now
#: alike): best ms per site of ``model(params, forcing or cache).sum().backward()``, float64
WHOLE_MODEL_WORKER = """
import sys, time, torch
sys.path.insert(0, sys.argv[3])
from binn_lite.clm5 import CLM5
from solver import example_sites
torch.set_num_threads(1)
batch, repeats = int(sys.argv[1]), int(sys.argv[2])
params, forcing = example_sites(batch, torch.float64)
model = CLM5()
if hasattr(model, "precompute"):  # as fit trains: learning the four most influential parameters
    from binn_lite.clm5 import MOST_INFLUENTIAL
    where = model.precompute(forcing, params, MOST_INFLUENTIAL)
else:  # the release before issue 14: everything from the forcing
    where = forcing
def run():
    p = params.clone().requires_grad_(True)
    model(p, where).sum().backward()
run()
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    run()
    best = min(best, time.perf_counter() - start)
print(1e3 * best / batch)
"""


def whole_model_ms_per_site(batch: int, repeats: int, rounds: int) -> dict[str, float]:
    """ms per site of one forward+backward of the whole model (assembly + solve), float64.

    ``"now"``: this checkout, ``CLM5()(params, cache)`` with ``cache = model.precompute(forcing,
    params, MOST_INFLUENTIAL)`` as ``fit`` trains; ``"before"``: the code of
    :data:`RELEASE_BEFORE_SPEEDUP` (assemble everything from the forcing, 7 x 7 block elimination),
    taken from git history (missing outside a git clone). Each runs in a fresh interpreter, the
    two alternately ``rounds`` times (best of ``repeats`` calls each), so that a busy machine slows
    both alike; the best of all rounds counts.
    """
    here = Path(__file__).resolve().parent.parent
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": release_checkout(RELEASE_BEFORE_SPEEDUP, Path(tmp) / "before"), "now": here}
        for _ in range(rounds):
            for name, tree in trees.items():
                if tree is None:
                    continue
                env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
                run = subprocess.run([sys.executable, "-c", WHOLE_MODEL_WORKER, str(batch), str(repeats),
                                      str(here / "bench")], env=env, cwd=tmp, capture_output=True, text=True)
                if run.returncode != 0:
                    print(f"whole model, {name}: the measurement failed:\n{run.stderr[-2000:]}", file=sys.stderr)
                    if name == "now":
                        raise SystemExit(1)
                    trees["before"] = None  # report today's figure without the comparison
                    continue
                best[name] = min(best.get(name, float("inf")), float(run.stdout.split()[-1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches, one repeat")
    args = parser.parse_args()
    batches = (64, 256) if args.quick else (256, 1024, 4096)
    repeats = 1 if args.quick else 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {repeats} runs, ms")
    print(f"{'batch':>6} {'dtype':>8} {'dense fwd':>10} {'block fwd':>10} {'ratio':>6} "
          f"{'dense f+b':>10} {'block f+b':>10} {'ratio':>6}")
    headline = None
    for dtype in (torch.float32, torch.float64):
        for batch in batches:
            blocks = example_blocks(batch, dtype)
            row = {}
            for name, solve in (("dense", dense_solve), ("block", block_tridiagonal_solve)):
                row[name] = (measure(solve, blocks, False, repeats), measure(solve, blocks, True, repeats))
            fwd, both = row["dense"][0] / row["block"][0], row["dense"][1] / row["block"][1]
            print(f"{batch:>6} {str(dtype).replace('torch.', ''):>8} {row['dense'][0]:>10.1f} {row['block'][0]:>10.1f} "
                  f"{fwd:>5.1f}x {row['dense'][1]:>10.1f} {row['block'][1]:>10.1f} {both:>5.1f}x", flush=True)
            if batch == 1024 and dtype == torch.float32:
                headline = both
    if headline is None:  # --quick
        headline = both
        print(f"speedup fwd+bwd batch={batches[-1]} {str(dtype).replace('torch.', '')}: {headline:.1f}x")
    else:
        print(f"speedup fwd+bwd batch=1024 float32: {headline:.1f}x")
    times = whole_model_ms_per_site(256, repeats=5 if args.quick else 30, rounds=1 if args.quick else 3)
    line = f"whole model (assembly + solve) fwd+bwd, float64, batch 256, one thread, ms per site: now {times['now']:.4f}"
    if "before" in times:
        line += (f", before issue 14 ({RELEASE_BEFORE_SPEEDUP}) {times['before']:.4f}: "
                 f"{times['before'] / times['now']:.1f}x faster")
    else:
        line += (f" (the code before issue 14, {RELEASE_BEFORE_SPEEDUP}, was not timed: no git history here, "
                 "or its run failed)")
    print(line)


if __name__ == "__main__":
    main()
