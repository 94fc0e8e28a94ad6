"""Quickstart: train a BINN on the bundled example data and check what it recovered.

    python -m binn_lite.quickstart [--out outputs/quickstart] [--head kan|mlp]

1. load the bundled synthetic data (about 1,500 US sites; the true CLM5 parameters are known),
2. hold out 10 % of the sites (never seen in training),
3. train covariates -> head -> 4 CLM5 parameters -> CLM5 -> SOC on the training sites' SOC only:
   by default ScIReN's KAN head with its recipe (sparse training, pruning, refit;
   :func:`binn_lite.heads.sciren.fit_and_prune`), or the BINN paper's MLP with ``--head mlp``,
4. report the held-out SOC NSE and how well each hidden parameter was recovered (R²),
5. save three figures (loss curve, observed vs predicted SOC, recovered vs true parameters).

Nothing is overwritten: if the output folder already holds files, a new numbered folder is used.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from .binn import BINN
from .clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from .data import load_example
from .heads.sciren import fit_and_prune, make_head
from .metrics import recovery_table, soc_metrics
from .train import fit

#: training settings of ``make quickstart``, also used by ``bench/recovery.py``
#: (MLP: :func:`~binn_lite.train.fit`; KAN: :func:`~binn_lite.heads.sciren.fit_and_prune`)
SETTINGS = {
    "mlp": dict(epochs=300, batch_size=128, lr=3e-3, patience=40, max_seconds=45),
    "kan": dict(),  # fit_and_prune's defaults: sparse stage, two prune-and-refit rounds
}


def fresh_folder(path: Path) -> Path:
    """``path`` if it is missing or empty, else the first ``path-2``, ``path-3``, ... that is."""
    candidate, n = path, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    candidate.mkdir(parents=True, exist_ok=True)
    return candidate


def warm_up() -> float:
    """Pay torch's one-off cost of a process's first ``torch.optim`` optimiser (its constructor
    imports torch._dynamo, ~1 s; the KAN recipe's L-BFGS refits use one) before the training clock
    starts; returns the seconds it took. binn_lite's own AdamW (:mod:`binn_lite.adamw`) has no such cost."""
    start = time.perf_counter()
    weight = torch.nn.Parameter(torch.ones(1))
    optimiser = torch.optim.LBFGS([weight], max_iter=1)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = weight.square().sum()
        value.backward()
        return value

    optimiser.step(loss)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")  # a script: draw to files, no window
    import matplotlib.pyplot as plt

    from .plots import plot_history, plot_observed_vs_predicted, plot_recovery

    parser = argparse.ArgumentParser(description="Train a BINN on the bundled example data.")
    parser.add_argument("--out", default="outputs/quickstart", help="folder for the figures (never overwritten)")
    parser.add_argument("--head", choices=("kan", "mlp"), default="kan",
                        help="kan: ScIReN's pruned KAN (default); mlp: the BINN paper's MLP")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the held-out fold, the head's initialisation and the training")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    imports = warm_up() if args.head == "kan" else 0.0
    data = load_example()
    test_idx = data.split(k=10, kind="random", seed=args.seed)[0][1]
    train_idx = np.setdiff1d(np.arange(len(data)), test_idx)
    print(f"data: {len(data)} sites, {int(data.soc.isfinite().sum())} SOC observations; "
          f"{len(test_idx)} sites held out; truth scenario {data.truth.scenario!r}")

    head = make_head(args.head, len(data.feature_names), len(MOST_INFLUENTIAL), seed=args.seed)
    binn = BINN(head, CLM5(), learn=list(MOST_INFLUENTIAL))
    print(f"training covariates -> {args.head.upper()} -> {', '.join(MOST_INFLUENTIAL)} -> CLM5 -> SOC")
    train = fit_and_prune if args.head == "kan" else fit
    result = train(binn, data, train_idx, seed=args.seed, progress=not args.no_progress, **SETTINGS[args.head])

    test = data.subset(test_idx)
    params, predicted = binn.predict_dataset(test)
    soc = soc_metrics(predicted, test.soc)
    recovery = recovery_table(params[list(MOST_INFLUENTIAL)], test.truth.params)

    out = fresh_folder(Path(args.out))
    figures = {
        "loss_curve.png": plot_history(result.history, monitor=result.monitor),
        "observed_vs_predicted.png": plot_observed_vs_predicted(test.soc, predicted, test.depth,
                                                                title="Held-out sites"),
        "recovered_vs_true.png": plot_recovery(params, test.truth.params, MOST_INFLUENTIAL,
                                               units={p.name: p.unit for p in CLM5_PARAMETERS}),
    }
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=110)
        plt.close(figure)

    if args.head == "kan":
        print(f"\ntrained in {result.seconds:.1f} s (after a one-off {imports:.1f} s for torch's first L-BFGS "
              f"optimiser): {len(result.sparse.history)} sparse epochs, then pruned "
              f"and refitted {len(result.refits)} times (edges {' -> '.join(map(str, result.edges))}; "
              f"{' + '.join(str(len(r.history)) for r in result.refits[:-1])} L-BFGS epochs, then "
              f"Levenberg-Marquardt, {len(result.refit.history)} epochs"
              f"{', converged' if result.refit.stopped_early else ''})")
    else:
        print(f"\ntrained in {result.seconds:.1f} s ({len(result.history)} epochs, best {result.best_epoch})")
    print(f"held-out SOC: NSE {soc['nse']:.3f}, KGE {soc['kge']:.3f} ({int(soc['n'])} observations)")
    print("recovery of parameters never observed (held-out sites):")
    for name, row in recovery.iterrows():
        print(f"  {name:<10} R² {row['r2']:.3f}   r {row['r']:.3f}")
    print(f"figures saved in {out.resolve()}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return {"nse": float(soc["nse"]), **{f"r2_{k}": float(v) for k, v in recovery["r2"].items()}}


if __name__ == "__main__":
    main()
