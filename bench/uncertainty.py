"""Benchmark: how sure is a BINN, and what do its parameters project? One run, against the truth.

On the bundled example (1,500 synthetic sites with known parameters), fold 0 of
``split(k=10, seed=0)`` is held out (150 sites) and the other 1,350 train:

* **KAN ensemble**: 5 pruned KANs, each ScIReN's recipe (``fit_and_prune``, the quickstart's
  settings) from its own seed (0-4) -- :func:`binn_lite.uncertainty.train_ensemble`;
* **MLP ensemble**: 5 of the BINN paper's MLPs (``fit`` with the quickstart's settings, no time cap);
* **MC dropout**: one MLP with dropout 0.1 after each hidden layer, the same settings, 100 passes;
* **global**: one parameter set for all sites (``fit_global``);
* **per-site MCMC** (the Bayesian per-site reference, parameters only): the first 30 held-out
  sites, 4 chains, 5,000 burn-in iterations, then until 99 % of split R-hat < 1.1 (as
  ``bench/recovery.py``).

Calibration (:mod:`binn_lite.uncertainty`) on the held-out sites: coverage of central 50 % and 90 %
intervals, 90 % interval score and CRPS, for SOC (log SOC of the held-out observations; the noise
sigma from training residuals) and for the four parameters against the truth (unit values).

Projections (:mod:`binn_lite.projection`): +2 K in 100 years (linear), from each site's steady state,
implicit Euler with 1-year steps; the change of the 0-1 m SOC stock after 100 years against the true
projection: R² over the held-out sites and the median relative error. Ensembles project every member;
their mean is scored, their spread gives an interval for the true change (coverage as above). A pure
neural network cannot project (no parameters). Also timed: projecting all 1,500 sites.

Cost: the KAN ensemble's wall time against one fit (the first member alone). Everything runs on one
torch thread (``--threads``); the projection is timed in wall and CPU time (on a busy machine the
CPU time is the better guide). Last line::

    uncertainty: SOC coverage90 ensemble <a> mc_dropout <b>; parameter coverage90 ensemble <c> mc_dropout <d>; projection R2 kan <e> mlp <f> global <g>

where "ensemble" is the KAN ensemble and the projections of KAN and MLP are their ensembles' means.

Run: ``python bench/uncertainty.py`` (about 10 minutes on an idle 2-core machine); ``--quick`` for a
smoke run.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import torch

from binn_lite.baselines import fit_global
from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import load_example
from binn_lite.heads import MLPHead
from binn_lite.heads.sciren import fit_and_prune, make_head
from binn_lite.mcmc import per_site_mcmc
from binn_lite.metrics import nse, r2, recovery_table
from binn_lite.projection import Scenario, project, true_projection
from binn_lite.quickstart import SETTINGS
from binn_lite.train import fit
from binn_lite.uncertainty import (calibration, mc_dropout, noise_sd, parameter_predictive,
                                   soc_predictive, train_ensemble)

NAMES = list(MOST_INFLUENTIAL)
FOUR = CLM5_PARAMETERS.subset(NAMES)
#: the MLP settings: the quickstart's without its time cap (as bench/recovery.py)
MLP_SETTINGS = {k: v for k, v in SETTINGS["mlp"].items() if k != "max_seconds"}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5, help="members of each ensemble")
    parser.add_argument("--passes", type=int, default=100, help="MC-dropout passes")
    parser.add_argument("--mcmc-sites", type=int, default=30, help="held-out sites calibrated by MCMC")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny training and MCMC")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    kan_settings, mlp_settings = dict(SETTINGS["kan"]), dict(MLP_SETTINGS)
    mcmc_settings = dict(n_burn=5000, n_sample=30000, thin=5, rhat_target=1.1, rhat_share=0.99, check_every=1000)
    if args.quick:
        args.members, args.passes, args.mcmc_sites = 2, 10, 4
        kan_settings = dict(sparse=dict(epochs=5), screening=dict(epochs=2), refit=dict(epochs=2))
        mlp_settings.update(epochs=5, patience=5)
        mcmc_settings = dict(n_burn=200, n_sample=200)

    start_all = time.perf_counter()
    data = load_example()
    train_idx, test_idx = data.split(k=10, kind="random", seed=0)[0]
    train, test = data.subset(train_idx), data.subset(test_idx)
    true_unit = FOUR.to_unit(torch.tensor(test.truth.params[NAMES].to_numpy()))
    n_inputs = len(data.feature_names)
    print(f"data: {len(train)} training and {len(test)} held-out sites; {args.members} members per ensemble, "
          f"{args.passes} MC-dropout passes, {args.threads} torch thread(s)", flush=True)

    # ---- training ------------------------------------------------------------------------------
    kan = train_ensemble(lambda seed: BINN(make_head("kan", n_inputs, 4, seed=seed), CLM5(), learn=NAMES), data,
                         train_idx, n_members=args.members, trainer=fit_and_prune, progress=False, **kan_settings)
    print(f"KAN ensemble: {kan.seconds:.1f} s; members {', '.join(f'{s:.1f}' for s in kan.member_seconds)} s; "
          f"edges {', '.join(str(f.edges_after) for f in kan.fits)}", flush=True)
    mlp = train_ensemble(lambda seed: BINN(make_head("mlp", n_inputs, 4, seed=seed), CLM5(), learn=NAMES), data,
                         train_idx, n_members=args.members, progress=False, **mlp_settings)
    print(f"MLP ensemble: {mlp.seconds:.1f} s", flush=True)
    dropout = BINN(MLPHead(n_inputs, 4, dropout=0.1, seed=0), CLM5(), learn=NAMES)
    dropout_fit = fit(dropout, data, train_idx, seed=0, progress=False, **mlp_settings)
    global_binn, global_fit = fit_global(data, train_idx)
    print(f"MC-dropout MLP: {dropout_fit.seconds:.1f} s; global parameter set: {global_fit.seconds:.1f} s", flush=True)

    samples = {"KAN ensemble": (kan.sample(test), kan.sample(train)),
               "MLP ensemble": (mlp.sample(test), mlp.sample(train)),
               "MC dropout": (mc_dropout(dropout, test, args.passes, seed=0),
                              mc_dropout(dropout, train, args.passes, seed=1))}

    # ---- calibration ---------------------------------------------------------------------------
    soc_rows, parameter_rows, per_parameter, parameters = {}, {}, {}, {}
    for label, (held_out, training) in samples.items():
        sigma = noise_sd(training, train.soc)
        soc_rows[label] = {"sigma": sigma, **calibration(soc_predictive(held_out, sigma), test.soc.log())}
        parameters[label] = parameter_predictive(held_out.parameter(NAMES), FOUR)
        parameter_rows[label] = calibration(parameters[label], true_unit)
        per_parameter[label] = {n: calibration(parameters[label].at((slice(None), j)),
                                               true_unit[:, j])["coverage90"] for j, n in enumerate(NAMES)}
        recovery = recovery_table(held_out.mean_params()[NAMES], test.truth.params)
        per_parameter[label].update({f"R2 {n}": recovery.loc[n, "r2"] for n in NAMES})

    mcmc_idx = test_idx[: args.mcmc_sites]
    mcmc = per_site_mcmc(data, mcmc_idx, n_chains=4, seed=0, **mcmc_settings)
    mcmc_samples = mcmc.physical_samples().flatten(1, 2).transpose(0, 1)  # [S, sites, 4]
    few = slice(0, len(mcmc_idx))
    mcmc_rows = {f"{label}, {len(mcmc_idx)} sites": calibration(p.at(few), true_unit[few])
                 for label, p in parameters.items()}
    mcmc_rows[f"per-site MCMC, {len(mcmc_idx)} sites"] = calibration(parameter_predictive(mcmc_samples, FOUR),
                                                                    true_unit[few])
    print(f"MCMC: {len(mcmc_idx)} sites, {mcmc.n_burn} + {mcmc.n_sample} iterations, {mcmc.seconds:.1f} s; "
          f"R-hat < 1.1: {float((mcmc.rhat().to_numpy() < 1.1).mean()):.1%}", flush=True)

    # ---- projections ---------------------------------------------------------------------------
    scenario = Scenario(2.0)
    true_change = true_projection(test, scenario).final_change(1.0)
    changes = {"KAN ensemble": project(samples["KAN ensemble"][0].params, test.forcing, scenario).final_change(1.0),
               "MLP ensemble": project(samples["MLP ensemble"][0].params, test.forcing, scenario).final_change(1.0),
               "MC dropout": project(samples["MC dropout"][0].params[:20], test.forcing, scenario).final_change(1.0)}
    global_params, _ = global_binn.predict_dataset(test)
    global_change = project(global_params, test.forcing, scenario).final_change(1.0)
    projection_rows = {}
    for label, members in changes.items():
        mean = members.mean(dim=0)
        spread = parameter_predictive(members)  # the true change as one more member
        projection_rows[label] = {
            "R2 (mean)": r2(mean.numpy(), true_change.numpy()),
            "median rel. error": float(((mean - true_change).abs() / true_change.abs()).median()),
            "R2 members (min-max)": f"{min(r2(m.numpy(), true_change.numpy()) for m in members):.3f}-"
                                    f"{max(r2(m.numpy(), true_change.numpy()) for m in members):.3f}",
            "coverage90 of the truth": calibration(spread, true_change)["coverage90"]}
    projection_rows["global parameter set"] = {
        "R2 (mean)": r2(global_change.numpy(), true_change.numpy()),
        "median rel. error": float(((global_change - true_change).abs() / true_change.abs()).median()),
        "R2 members (min-max)": "-", "coverage90 of the truth": float("nan")}
    start, start_cpu = time.perf_counter(), time.process_time()
    true_projection(data, scenario)
    project_seconds, project_cpu = time.perf_counter() - start, time.process_time() - start_cpu

    # ---- report --------------------------------------------------------------------------------
    with pd.option_context("display.width", 160, "display.precision", 3, "display.max_columns", 20):
        print("\nheld-out SOC (log SOC of the observations; sigma: the noise from training residuals)")
        print(pd.DataFrame(soc_rows).T.to_string())
        print("\nparameters against the truth (unit values), 150 held-out sites")
        print(pd.DataFrame(parameter_rows).T.to_string())
        print("\n90 % coverage and R² of the mean, per parameter")
        print(pd.DataFrame(per_parameter).T.to_string())
        print(f"\nparameters, the {len(mcmc_idx)} sites of the MCMC")
        print(pd.DataFrame(mcmc_rows).T.to_string())
        print("\nprojection: change of the 0-1 m stock after 100 years of +2 K (150 held-out sites)")
        print(pd.DataFrame(projection_rows).T.to_string())
    soc_nse = {label: nse(s[0].at_observations.mean(dim=0), test.soc) for label, s in samples.items()}
    print("held-out SOC NSE of the mean prediction: " + ", ".join(f"{k} {v:.3f}" for k, v in soc_nse.items())
          + f", global {nse(global_binn.predict_dataset(test)[1], test.soc):.3f}; a pure neural network "
          "cannot project (no parameters)")
    first = kan.member_seconds[0]
    print(f"cost: {len(kan)} KANs {kan.seconds:.1f} s = {kan.seconds / first:.2f}x the first fit alone "
          f"({first:.1f} s; {kan.seconds / np.mean(kan.member_seconds):.2f}x the mean fit)")
    print(f"projecting all {len(data)} sites over 100 years: {project_seconds:.1f} s wall, {project_cpu:.1f} s CPU "
          "(one thread: equal on an idle machine)")
    print(f"total {time.perf_counter() - start_all:.0f} s")
    result = {"soc_ensemble": soc_rows["KAN ensemble"]["coverage90"],
              "soc_dropout": soc_rows["MC dropout"]["coverage90"],
              "param_ensemble": float(parameter_rows["KAN ensemble"]["coverage90"]),
              "param_dropout": float(parameter_rows["MC dropout"]["coverage90"]),
              "r2_kan": projection_rows["KAN ensemble"]["R2 (mean)"],
              "r2_mlp": projection_rows["MLP ensemble"]["R2 (mean)"],
              "r2_global": projection_rows["global parameter set"]["R2 (mean)"],
              "ensemble_ratio": kan.seconds / first, "project_seconds": project_seconds}
    print(f"uncertainty: SOC coverage90 ensemble {result['soc_ensemble']:.3f} mc_dropout {result['soc_dropout']:.3f}; "
          f"parameter coverage90 ensemble {result['param_ensemble']:.3f} mc_dropout {result['param_dropout']:.3f}; "
          f"projection R2 kan {result['r2_kan']:.3f} mlp {result['r2_mlp']:.3f} global {result['r2_global']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
