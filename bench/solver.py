"""Benchmark: structured block-tridiagonal solve vs dense solve of the CLM5 steady state.

Times the 140 x 140 steady-state solve (assembled from real CLM5 blocks: 20 layers x 7 pools)
forward and forward+backward, for several batch sizes and both float precisions, side by side in
one run. The last line is the headline ratio at batch 1024, float32.

Run: ``python bench/solver.py`` (add ``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import time

import torch

from binn_lite.blocksolve import block_tridiagonal_solve, dense_solve
from binn_lite.clm5 import CLM5_PARAMETERS, Forcing, ZSOI, _system_blocks


def example_blocks(batch: int, dtype: torch.dtype):
    """Real CLM5 system blocks for ``batch`` sites with random parameters and a mild climate."""
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
    return [t.detach() for t in _system_blocks(params, forcing)]


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


if __name__ == "__main__":
    main()
