"""Benchmark: BINN vs per-site MCMC (PRODA-style) -- wall time and parameter recovery, one run.

The question (Xu et al. 2025 report "more than 50 times" less computation than PRODA): how much
does it cost to get the four most influential CLM5 parameters (efolding, tau_s3, fs1s3, w_scaling)
at every site, and how close to the truth are they?

* **BINN**: ScIReN's pruned KAN head (as in ``make quickstart``; ``--head mlp``: the BINN paper's
  MLP, 3 x 128) -> the four parameters -> CLM5 -> SOC, trained on the training folds (90 % of the
  bundled 1,500 sites; KAN: ``binn_lite.heads.sciren.fit_and_prune``; MLP: ``binn_lite.train.fit``
  with early stopping on a validation split of those). The other head is trained too and reported
  side by side (``--single``: only the one). Its time is the *whole* training; afterwards it gives
  the parameters of any site, seen or not, in milliseconds.
* **Per-site MCMC**: adaptive Metropolis (:func:`binn_lite.mcmc.per_site_mcmc`) at each site
  of a set ``S`` of held-out sites, 4 chains per site, every site calibrated on its own SOC profile.
  The estimate is the posterior mean. ``S`` is the first ``--sites`` sites of the held-out fold, so
  the BINN has never seen them. Run length: 5,000 burn-in (adaptation) iterations, then sampling
  until 99 % of the (site, parameter) pairs have rank-normalised split R-hat below 1.1, checked
  every 1,000 iterations on all samples kept so far. Why so long: with about six noisy
  observations per profile the per-site posteriors are nearly as wide as the prior and curved
  (SOC depends mostly on ``fs1s3 tau_s3 / w_scaling``), so random-walk chains mix slowly; in pilot
  runs on 40 of these sites, 2,000 + 2,000 iterations left 18 % of R-hat above 1.1, 5,000 + 5,000
  left 4 %, 10,000 + 10,000 left 0.6 %.
* Recovery: R^2 = 1 - SS_res/SS_tot against the true parameters on the same sites ``S``, per
  parameter and its mean over the four.

Fairness: both use the same objective (Gaussian on log SOC: ``fit(loss="log")`` is the mean squared
log error, the MCMC likelihood has sigma = 0.1, the noise of the data), the same CLM5 code in
float32, and one CPU thread each (``--threads``), so they are timed alike and other processes on
the machine disturb them alike. The MCMC is vectorised (one CLM5 call per iteration for all sites
and chains), far cheaper than PRODA's site-by-site loop, so the comparison favours the MCMC.

What is compared: (1) total time on the same sites ``S``; (2) the cost of calibrating *all*
1,500 sites, which is what PRODA does before training its network: BINN's one training vs the
MCMC's per-site cost times 1,500. For (2) the per-site cost is corrected by the measured cost of
one CLM5 evaluation at the cheapest batch size an all-site run could use (larger batches can be
cheaper per site; the correction only ever lowers the MCMC's cost). Both wall-clock and CPU time
are shown: with one thread they agree on an idle machine, but on a busy one the wall time of
whichever phase ran during heavier load is inflated. The last line reports (2) for the ``--head``
BINN, taking the smaller of the wall-time and CPU-time ratios; the line before it the same for the
other head.

Why the MCMC recovers the parameters poorly: each profile has about six observations with 10 %
noise, and the steady-state SOC depends mostly on a combination of the parameters, so one profile
hardly constrains them (the posteriors are nearly as wide as the prior and their means sit near
its middle). The BINN fits all sites at once through smooth functions of the covariates, which is
what makes the parameters identifiable -- the paper's point, measured here.

Run: ``python bench/recovery.py`` (a few minutes); ``--quick`` for a smoke run.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import load_example
from binn_lite.mcmc import per_site_mcmc, split_rhat
from binn_lite.metrics import recovery_table
from binn_lite.heads.sciren import fit_and_prune, make_head
from binn_lite.quickstart import SETTINGS, warm_up as warm_up_optimiser
from binn_lite.train import fit

#: BINN training settings: the quickstart's (MLP without its time cap); the loss is fit's default,
#: "log", the mean squared log error that matches the MCMC likelihood
BINN_SETTINGS = {
    "mlp": {k: v for k, v in SETTINGS["mlp"].items() if k != "max_seconds"},
    "kan": dict(SETTINGS["kan"]),
}
#: the MCMC runs until this share of (site, parameter) pairs has split R-hat below the target
#: (1.1: Gelman et al. 2013); a single pair of 100+ may lag, all others must be there
RHAT_TARGET, RHAT_SHARE = 1.1, 0.99


class CountingCLM5(CLM5):
    """CLM5 that counts the site evaluations it makes (training, validation and prediction)."""

    site_evaluations = 0

    def forward(self, params: torch.Tensor, forcing) -> torch.Tensor:
        self.site_evaluations += params.shape[0]
        return super().forward(params, forcing)


def model_call_seconds(data, batch: int, repeats: int = 5) -> float:
    """Best CPU time of one CLM5 prediction (no gradient, float32) for ``batch`` site-chains, as
    ``per_site_mcmc`` makes it: with the :meth:`CLM5.precompute` cache of the fixed parameters."""
    model = CLM5()
    rows = torch.arange(batch) % len(data)
    coords = data.coords[rows].to(torch.float32)
    g = torch.Generator().manual_seed(0)
    params = CLM5_PARAMETERS.defaults_like(batch, dtype=torch.float32)
    forcing = model.precompute(data.forcing[rows].to(dtype=torch.float32), params, MOST_INFLUENTIAL)
    columns = [CLM5_PARAMETERS.index(n) for n in MOST_INFLUENTIAL]
    params[:, columns] = CLM5_PARAMETERS.subset(MOST_INFLUENTIAL).to_physical(
        torch.rand(batch, 4, generator=g, dtype=torch.float64)).float()
    best = float("inf")
    with torch.no_grad():
        model.predict(params, forcing, coords)
        for _ in range(repeats):
            start = time.process_time()
            model.predict(params, forcing, coords)
            best = min(best, time.process_time() - start)
    return best


def warm_up() -> None:
    """Pay the one-time costs of a fresh Python process before any clock starts: importing pykan
    (with sympy, ~3 s) and torch's optimiser machinery (the first ``torch.optim`` optimiser, here the
    KAN recipe's L-BFGS, imports torch._dynamo, ~1 s). Neither is training, and the MCMC's plain
    torch code has nothing like them."""
    make_head("kan", 2, 1)
    warm_up_optimiser()


def train_binn(kind: str, data, train_idx: np.ndarray, sites, test_idx: np.ndarray, seed: int,
               quick: bool) -> dict[str, Any]:
    """Train a BINN with the ``kind`` head ("kan" or "mlp") and time it, prediction at ``sites`` included."""
    names = list(MOST_INFLUENTIAL)
    settings = dict(BINN_SETTINGS[kind])
    if quick:
        settings.update(dict(epochs=15, patience=15) if kind == "mlp" else
                        dict(sparse=dict(epochs=5), screening=dict(epochs=2), refit=dict(epochs=2)))
    start, start_cpu = time.perf_counter(), time.process_time()
    clm5 = CountingCLM5()
    binn = BINN(make_head(kind, len(data.feature_names), len(names), seed=seed), clm5, learn=names)
    result = (fit if kind == "mlp" else fit_and_prune)(binn, data, train_idx, seed=seed, progress=False,
                                                         **settings)
    params, _ = binn.predict_dataset(sites)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    held_out_params, _ = binn.predict_dataset(data.subset(test_idx))
    if kind == "mlp":
        iterations = f"{len(result.history)} epochs"
        print(f"BINN (MLP): {iterations} (best {result.best_epoch}), {seconds:.1f} s including prediction")
    else:
        n_lbfgs, n_lm = sum(len(r.history) for r in result.refits[:-1]), len(result.refit.history)
        iterations = f"{len(result.sparse.history)} + {n_lbfgs} L-BFGS + {n_lm} LM ep."
        print(f"BINN (KAN): {len(result.sparse.history)} sparse epochs, then {len(result.refits)} prune-and-refit "
              f"rounds ({n_lbfgs} L-BFGS epochs, then {n_lm} Levenberg-Marquardt epochs; edges "
              f"{' -> '.join(map(str, result.edges))}), {seconds:.1f} s including prediction", flush=True)
    return {"kind": kind, "seconds": seconds, "cpu": cpu, "evaluations": clm5.site_evaluations,
            "iterations": iterations, "n_fit": len(result.train_idx) + len(result.val_idx),
            "rec": recovery_table(params[names], sites.truth.params),
            "rec_all": recovery_table(held_out_params[names], data.truth.params)}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=30, help="held-out sites calibrated by MCMC (S)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--burn", type=int, default=5000, help="MCMC burn-in (adaptation) iterations")
    parser.add_argument("--max-sample", type=int, default=30000,
                        help="most MCMC iterations after burn-in (it stops earlier once converged)")
    parser.add_argument("--check-every", type=int, default=1000, help="iterations between R-hat checks")
    parser.add_argument("--thin", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both methods")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", choices=("kan", "mlp"), default="kan",
                        help="the headline BINN's head: ScIReN's pruned KAN (default) or the BINN paper's MLP")
    parser.add_argument("--single", action="store_true", help="train only the --head BINN, not the other too")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny MCMC, short training")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.burn, args.max_sample, args.check_every, args.thin = 8, 300, 600, 300, 1
    torch.set_num_threads(args.threads)

    data = load_example()
    train_idx, test_idx = data.split(k=10, kind="random", seed=args.seed)[0]
    s_idx = test_idx[: args.sites]
    sites = data.subset(s_idx)
    truth = sites.truth.params
    names = list(MOST_INFLUENTIAL)
    print(f"data: {len(data)} sites ({data.truth.scenario}); BINN trains on {len(train_idx)}, "
          f"{len(test_idx)} held out; S = {len(s_idx)} held-out sites for the side-by-side comparison; "
          f"{args.threads} torch thread(s)")

    # ---- BINN: the headline head first, then the other -----------------------------------------
    kinds = [args.head] + ([] if args.single else [k for k in ("kan", "mlp") if k != args.head])
    warm_up()
    binns = [train_binn(kind, data, train_idx, sites, test_idx, args.seed, args.quick) for kind in kinds]

    # ---- per-site MCMC ------------------------------------------------------------------------
    print(f"MCMC: {len(s_idx)} sites x {args.chains} chains, {args.burn} burn-in iterations, then sampling "
          f"until {100 * RHAT_SHARE:.0f} % of split R-hat < {RHAT_TARGET} (checked every {args.check_every}, "
          f"at most {args.max_sample}) ...", flush=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    mcmc = per_site_mcmc(data, s_idx, n_chains=args.chains, n_burn=args.burn, n_sample=args.max_sample,
                         thin=args.thin, seed=args.seed, rhat_target=RHAT_TARGET, rhat_share=RHAT_SHARE,
                         check_every=args.check_every)
    mcmc_seconds, mcmc_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    mcmc_rec = recovery_table(mcmc.posterior_mean()[names], truth)
    rhat = mcmc.rhat().to_numpy()
    half = mcmc.samples.shape[2] // 2
    rhat_half = split_rhat(mcmc.samples[:, :, :half].permute(0, 3, 1, 2)).numpy()
    share_ok, share_ok_half = float((rhat < RHAT_TARGET).mean()), float((rhat_half < RHAT_TARGET).mean())
    converged = share_ok >= RHAT_SHARE

    # ---- cost of all sites -------------------------------------------------------------------------
    n_all = len(data)
    batch_s, batch_all = len(s_idx) * args.chains, n_all * args.chains
    per_eval_s = model_call_seconds(data, batch_s) / batch_s
    # an all-site run may chunk its sites x chains into the cheapest batch size per evaluation
    candidates = sorted({b for b in (256, 512, 1024, 2048, batch_all) if b <= batch_all})
    per_eval = {b: model_call_seconds(data, b) / b for b in candidates}
    batch_best = min(per_eval, key=per_eval.get)
    batch_factor = min(1.0, per_eval[batch_best] / per_eval_s)
    scale = n_all / len(s_idx) * batch_factor
    r2_mcmc = float(mcmc_rec["r2"].mean())
    for b in binns:  # speed-ups: (1) the same sites S, (2) all sites; wall and CPU time
        b["same"] = {"wall": mcmc_seconds / b["seconds"], "cpu": mcmc_cpu / b["cpu"]}
        b["every"] = {"wall": mcmc_seconds * scale / b["seconds"], "cpu": mcmc_cpu * scale / b["cpu"]}
        b["headline"], b["r2"] = min(b["every"].values()), float(b["rec"]["r2"].mean())

    # ---- table ---------------------------------------------------------------------------------
    w = 46

    def row(label: str, *values: Any, fmt: str = "") -> None:
        print(f"{label:<{w}}" + "".join(f"{v:>22{fmt}}" for v in values))

    def binn_row(label: str, value, mcmc_value: Any, fmt: str = "") -> None:
        row(label, *(value(b) for b in binns), mcmc_value, fmt=fmt)

    print()
    row("", *(f"BINN ({b['kind'].upper()} head)" for b in binns), "per-site MCMC")
    binn_row("calibrated on", lambda b: f"{b['n_fit']} train sites", f"each of {len(s_idx)} sites")
    binn_row("iterations", lambda b: b["iterations"], f"{mcmc.n_burn}+{mcmc.n_sample} x {mcmc.n_chains} ch.")
    binn_row("CLM5 site evaluations", lambda b: f"{b['evaluations']:,} (+grad)", f"{mcmc.n_model_calls * batch_s:,}")
    for name in names:
        binn_row(f"R2 {name} (sites S)", lambda b: b["rec"].loc[name, "r2"], mcmc_rec.loc[name, "r2"], fmt=".3f")
    binn_row("R2 mean of the 4 (sites S)", lambda b: b["r2"], r2_mcmc, fmt=".3f")
    binn_row("r (Pearson) mean of the 4 (sites S)", lambda b: b["rec"]["r"].mean(), mcmc_rec["r"].mean(), fmt=".3f")
    binn_row(f"R2 mean, all {len(test_idx)} held-out sites", lambda b: f"{b['rec_all']['r2'].mean():.3f}", "-")
    binn_row("(1) sites S: wall time (s)", lambda b: b["seconds"], mcmc_seconds, fmt=".1f")
    binn_row("(1) sites S: CPU time (s)", lambda b: b["cpu"], mcmc_cpu, fmt=".1f")
    binn_row(f"(2) all {n_all} sites: wall time (s)", lambda b: b["seconds"], mcmc_seconds * scale, fmt=".1f")
    binn_row(f"(2) all {n_all} sites: CPU time (s)", lambda b: b["cpu"], mcmc_cpu * scale, fmt=".1f")
    print(f"(1) = what was run here: the BINN's whole training (+ prediction) vs MCMC at the {len(s_idx)} sites S.")
    print(f"(2) = what each method needs for all {n_all} sites (PRODA runs MCMC at every site): the same one BINN "
          f"training vs the MCMC of S x {n_all}/{len(s_idx)} x {batch_factor:.2f}, the cost of one CLM5 evaluation "
          f"at the cheapest batch size ({batch_best}) relative to batch {batch_s} (at most 1).")
    for b in binns:
        print(f"speed-up of the {b['kind'].upper()} BINN (1), same {len(s_idx)} sites: {b['same']['wall']:.1f}x wall "
              f"time, {b['same']['cpu']:.1f}x CPU time; (2), all {n_all} sites: {b['every']['wall']:.0f}x wall time, "
              f"{b['every']['cpu']:.0f}x CPU time")
    print("(single-threaded, so wall and CPU time agree on an idle machine; the headline takes the smaller)")
    print()
    print(f"MCMC convergence: rank-normalised split R-hat over {rhat.size} site-parameter pairs: "
          f"median {np.median(rhat):.3f}, 95th percentile {np.quantile(rhat, 0.95):.3f}, max {rhat.max():.3f}; "
          f"{100 * share_ok:.1f} % below {RHAT_TARGET} (first half of the kept samples only: {100 * share_ok_half:.1f} %)")
    print(f"MCMC run length: {mcmc.n_burn} burn-in + {mcmc.n_sample} sampling iterations per chain, "
          + (f"the first check point where {100 * RHAT_SHARE:.0f} % of R-hat were below {RHAT_TARGET}"
             if converged else f"the cap (--max-sample), NOT converged"))
    unit_sd = mcmc.posterior_sd()[names] / (mcmc.table.high - mcmc.table.low).numpy()
    print("MCMC posterior standard deviation in unit space, mean over sites: "
          + ", ".join(f"{n} {unit_sd[n].mean():.2f}" for n in names)
          + " (the flat prior has 0.29: single profiles barely constrain the parameters)")
    print(f"MCMC acceptance after burn-in: mean {float(mcmc.acceptance.mean()):.2f} "
          f"(min {float(mcmc.acceptance.min()):.2f}, max {float(mcmc.acceptance.max()):.2f})")
    if not converged:
        print(f"WARNING: fewer than {100 * RHAT_SHARE:.0f} % of R-hat values below {RHAT_TARGET}; "
              "raise --max-sample before trusting the MCMC column")
    for b in binns[1:]:  # the other head, side by side
        print(f"{b['kind'].upper()} BINN vs per-site MCMC: {b['headline']:.0f}x faster, R2 {b['r2']:.2f} vs {r2_mcmc:.2f}")
    top = binns[0]
    print(f"BINN vs per-site MCMC: {top['headline']:.0f}x faster, R2 {top['r2']:.2f} vs {r2_mcmc:.2f}")
    return {"ratio_all": top["headline"], "ratio_same_wall": top["same"]["wall"], "r2_binn": top["r2"],
            "r2_mcmc": r2_mcmc, "binn_seconds": top["seconds"], "mcmc_seconds": mcmc_seconds, "rhat_share_ok": share_ok,
            **{f"r2_{name}": float(top["rec"].loc[name, "r2"]) for name in names}}


if __name__ == "__main__":
    main(sys.argv[1:])
