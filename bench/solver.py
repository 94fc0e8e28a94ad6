"""Benchmark: the CLM5 steady state, solved and differentiated.

1. The 140 x 140 steady-state solve (assembled from real CLM5 blocks: 20 layers x 7 pools) by 7 x 7
   block elimination vs dense, forward and forward+backward, for several batch sizes and both float
   precisions, side by side in one run; the headline ratio at batch 1024, float32.
2. The whole model (assembly + solve) forward+backward per site, float64, batch 256, as in training
   with ``learn="most_influential"``: before (assemble every part, 7 x 7 block elimination) and now
   (:meth:`CLM5.precompute` cache + the pool-staged solve), timed alternately in one run; the ratio.

Run: ``python bench/solver.py`` (add ``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import time

import torch

from binn_lite.blocksolve import block_tridiagonal_solve, dense_solve
from binn_lite.clm5 import (CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL, POOL, SYSTEM_DTYPE, Forcing, ZSOI,
                            system_blocks, validate_parameters)


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


def whole_model_ms_per_site(batch: int, repeats: int) -> tuple[float, float]:
    """(before, now): ms per site of one forward+backward of the whole model, float64.

    *before*: what ``CLM5()(params, forcing)`` did until issue 14: assemble every part of the
    system from the forcing, then 7 x 7 block elimination. *now*: ``CLM5()(params, cache)`` with
    ``cache = model.precompute(forcing, params, MOST_INFLUENTIAL)``: only what the four learned
    parameters change is recomputed, and the solve goes pool stage by pool stage. The two are timed
    alternately (best of ``repeats`` each), so a busy machine slows both alike.
    """
    params, forcing = example_sites(batch, torch.float64)
    model = CLM5()
    cache = model.precompute(forcing, params, MOST_INFLUENTIAL)
    som = slice(POOL["som1"], POOL["som3"] + 1)

    def before():
        p = params.clone().requires_grad_(True)
        model.check_params(p)
        validate_parameters(p)
        pools = block_tridiagonal_solve(*system_blocks(p.to(SYSTEM_DTYPE), forcing))
        pools[:, :, som].sum(dim=-1).sum().backward()

    def now():
        p = params.clone().requires_grad_(True)
        model(p, cache).sum().backward()

    before(), now()  # warm-up
    best = {before: float("inf"), now: float("inf")}
    for _ in range(repeats):
        for fn in best:
            start = time.perf_counter()
            fn()
            best[fn] = min(best[fn], time.perf_counter() - start)
    return 1e3 * best[before] / batch, 1e3 * best[now] / batch


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
    before, now = whole_model_ms_per_site(256, 5 if args.quick else 30)
    print(f"whole model (assembly + solve) fwd+bwd, float64, batch 256, learn=most_influential, ms per site: "
          f"before {before:.4f}, now {now:.4f}, speedup {before / now:.1f}x")


if __name__ == "__main__":
    main()
