"""ScIReN's recipe: its KAN head and how it trains one (sparse training, pruning, refit).

* :data:`KAN_SETTINGS` and :func:`make_head`: the head -- a one-layer KAN on a 5-interval grid
  with a hard sigmoid, sparsity (L1, entropy) and smoothness penalties (or, for comparison, the
  BINN paper's MLP).
* :func:`fit_and_prune`: the training -- :func:`~binn_lite.train.fit` with the sparsity penalties,
  pruning, then refits of the pruned KAN (Liu et al. 2024, section 2.5): short L-BFGS screening
  refits, and a last refit by Levenberg-Marquardt to convergence. Its stages' settings are
  :data:`SPARSE_STAGE`, :data:`SCREENING_STAGE` and :data:`REFIT_STAGE`, its pruning rounds
  :data:`EDGE_THRESHOLDS` and :data:`REFIT_SMOOTH`.

``make quickstart`` (:mod:`binn_lite.quickstart`), tutorial 04 and ``bench/recovery.py`` use them.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import BinnInputError
from ..binn import BINN
from ..train import FitResult, FitSettings, fit
from .base import Head
from .kan import KANHead
from .mlp import MLPHead

__all__ = ["KAN_SETTINGS", "make_head", "fit_and_prune", "PrunedFit", "SPARSE_STAGE", "SCREENING_STAGE",
           "REFIT_STAGE", "EDGE_THRESHOLDS", "REFIT_SMOOTH"]

#: the ScIReN head: one-layer KAN, hard sigmoid, sparsity (L1, entropy) and smoothness penalties.
#: ``grid=5`` intervals (8 cubic B-splines per edge), not ScIReN's 30: enough for smooth
#: relationships, and L-BFGS converges in a third of the iterations (fewer, better-determined
#: coefficients; measured with ``bench/recovery.py``'s data, see :func:`fit_and_prune`)
KAN_SETTINGS = dict(grid=5, constraint="hard_sigmoid", lamb_l1=3e-4, lamb_entropy=1e-4, lamb_smooth=1e-3)

#: stage-1 settings of :func:`fit_and_prune` (AdamW with the KAN's sparsity penalties)
SPARSE_STAGE = FitSettings(epochs=40, batch_size=128, lr=3e-2, patience=40, monitor="val_loss",
                           restore_best=False)
#: settings of every refit but the last in :func:`fit_and_prune`: a short screening refit, 4 L-BFGS
#: epochs of 10 iterations, just enough for the weak spurious edges to fall below the next round's
#: threshold (the sparse stage's normalizer, no early stopping, the last weights)
SCREENING_STAGE = FitSettings(optimizer="lbfgs", epochs=4, lbfgs_iterations=10, patience=4, monitor="val_loss",
                              restore_best=False, refit_normalizer=False)
#: settings of the last refit in :func:`fit_and_prune`: Levenberg-Marquardt on the pruned KAN until
#: no step lowers the loss (about 5 steps on the bundled example; 20 at most)
REFIT_STAGE = FitSettings(optimizer="lm", epochs=20, patience=20, monitor="val_loss", restore_best=False,
                          refit_normalizer=False)
#: edge thresholds of :func:`fit_and_prune`'s prune-and-refit rounds (pykan attribution scores)
EDGE_THRESHOLDS = (0.02, 0.05)
#: the KAN's smoothness weight in :func:`fit_and_prune`'s last refit (lighter than the head's 1e-3)
REFIT_SMOOTH = 3e-4


def make_head(kind: str, n_inputs: int, n_outputs: int, seed: int = 0) -> Head:
    """The BINN paper's MLP (``kind="mlp"``) or ScIReN's one-layer KAN (``"kan"``, :data:`KAN_SETTINGS`),
    initialised with ``seed``."""
    if kind == "mlp":
        return MLPHead(n_inputs, n_outputs, seed=seed)
    if kind == "kan":
        return KANHead(n_inputs, n_outputs, seed=seed, **KAN_SETTINGS)
    raise BinnInputError(f"head must be 'mlp' or 'kan', got {kind!r}")


@dataclass
class PrunedFit:
    """What :func:`fit_and_prune` returns.

    Attributes
    ----------
    sparse : the :class:`~binn_lite.train.FitResult` of the sparse stage.
    refits : one FitResult per prune-and-refit round.
    thresholds : the edge threshold of each round.
    edges : active KAN edges before pruning, then after each round's pruning.
    seconds : wall-clock time of all stages.
    """

    sparse: FitResult
    refits: list[FitResult]
    thresholds: tuple[float, ...]
    edges: list[int]
    seconds: float

    @property
    def refit(self) -> FitResult:
        """The last refit (the weights ``binn`` ends with)."""
        return self.refits[-1]

    @property
    def monitor(self) -> str:
        """What the stages monitored (``"val_loss"`` by default); the last refit's, if they differ."""
        return self.refit.monitor

    @property
    def edges_before(self) -> int:
        return self.edges[0]

    @property
    def edges_after(self) -> int:
        return self.edges[-1]

    @property
    def history(self) -> pd.DataFrame:
        """All stages' histories, one row per epoch (numbered on), with a ``stage`` column:
        ``"sparse"``, then ``"refit"`` (one round) or ``"refit 1"``, ``"refit 2"``, ..."""
        parts = [self.sparse.history.assign(stage="sparse")]
        for k, result in enumerate(self.refits, start=1):
            offset = sum(len(part) for part in parts)
            stage = "refit" if len(self.refits) == 1 else f"refit {k}"
            parts.append(result.history.assign(stage=stage, epoch=result.history["epoch"] + offset))
        return pd.concat(parts, ignore_index=True)

    @property
    def val_idx(self) -> np.ndarray:
        return self.refit.val_idx

    @property
    def train_idx(self) -> np.ndarray:
        return self.refit.train_idx

    def __repr__(self) -> str:
        return (f"PrunedFit(edges {' -> '.join(map(str, self.edges))}, sparse epochs {len(self.sparse.history)}, "
                f"refit epochs {' + '.join(str(len(r.history)) for r in self.refits)}, "
                f"best_val_loss={self.refit.best_val_loss:.5f}, seconds={self.seconds:.1f})")


def _stage_settings(base: FitSettings, changes: dict[str, Any] | None, stage: str, own: set[str],
                    common: dict[str, Any]) -> FitSettings:
    """``base`` with the user's ``changes`` for one stage and the settings all stages share."""
    clash = own & set(changes or {})
    if clash:
        raise BinnInputError(f"fit_and_prune: set {', '.join(sorted(clash))} as arguments of fit_and_prune, "
                         f"not in {stage}=")
    return base.replace(**(changes or {}), **common)


def fit_and_prune(
    binn: BINN,
    dataset: Any,
    train_idx: Any = None,
    val_idx: Any = None,
    *,
    edge_threshold: float | Sequence[float] = EDGE_THRESHOLDS,
    refit_smooth: float | None = REFIT_SMOOTH,
    sparse: dict[str, Any] | None = None,
    screening: dict[str, Any] | None = None,
    refit: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = True,
    num_threads: int | None = FitSettings.num_threads,
) -> PrunedFit:
    """ScIReN's recipe for a KAN head: train sparse, prune, refit (Liu et al. 2024, section 2.5).

    1. **Sparse stage** -- :func:`~binn_lite.train.fit` with AdamW and the head's L1 and entropy
       penalties (``KANHead(lamb_l1=..., lamb_entropy=...)``, both must be > 0): edges that do
       not help explain the SOC shrink towards zero. The penalties act until the last epoch, so the
       last weights are pruned, not the best validation epoch's. Settings: :data:`SPARSE_STAGE`
       with the changes in ``sparse`` (a dict of :class:`~binn_lite.train.FitSettings` fields).
    2. **Prune and refit**, once per value of ``edge_threshold`` (default :data:`EDGE_THRESHOLDS`,
       two rounds): :meth:`KANHead.prune` masks every edge whose pykan attribution score on the
       training covariates is below the threshold, then the pruned KAN is refitted on all
       training sites at once. Every refit but the last is a short L-BFGS *screening* refit
       (:data:`SCREENING_STAGE` with the changes in ``screening``); the last one runs
       Levenberg-Marquardt (:mod:`binn_lite.levenberg_marquardt`) until no step lowers the loss
       (:data:`REFIT_STAGE` with the changes in ``refit``). No early stopping: the validation loss
       of ~130 sites is too noisy to judge the small steps along the flat valley, and a pruned,
       smoothed KAN has little left to overfit.
       Before the first refit the L1 and entropy weights are set to 0 (they would keep shrinking
       the edges that remain, biasing the parameters); before the last one the smoothness weight
       is set to ``refit_smooth`` (None keeps the head's).

    Why: with all 10 x 4 edges free, spurious edges from covariates correlated with the true
    drivers can trade off along the flat directions of the loss (a bit more tau_s3 here, a bit
    less w_scaling there) and the parameters drift; with only the edges the data need, the
    parameters are pinned down. A second, stricter round removes the weak spurious edges that the
    first refit has made easy to tell from the real ones. Smoothing (``lamb_smooth=1e-3`` in
    :data:`KAN_SETTINGS`) keeps the curves clean; too much flattens the curvature of the true
    relationships and the model makes up for it with a common bias along the weakest direction
    of the loss (mainly tau_s3), too little lets the curves wiggle. A lighter ``refit_smooth``
    in the last refit (:data:`REFIT_SMOOTH`) removes that bias; on the bundled example, keeping
    1e-3 there left tau_s3 at R2 0.86-0.88 at seeds 0 and 2.
    Measured on the bundled example: see the README ("Recovering the parameters").

    Why two optimisers: the screening refit is deliberately short -- run to convergence (by
    Levenberg-Marquardt) it let correlated spurious edges settle in, and the next round kept a
    wrong set (on the bundled example 4 of seeds 0-5 then missed a parameter, R2 0.88-0.90). The
    last refit should converge: L-BFGS crept along the valley for ~110 evaluations without getting there; the
    Gauss-Newton curvature of Levenberg-Marquardt takes it there in ~5 steps. With few weights
    per site that is what you want; a KAN with many more coefficients (30 intervals) on a few
    hundred sites spends them on the noise when run to convergence -- stop its last refit early
    instead (``refit=dict(optimizer="lbfgs", epochs=10, lbfgs_iterations=10)``, tutorial 04).

    Cost: nearly all of it is CLM5 evaluations: 400 minibatch steps of 128 sites in the sparse
    stage, about 45 full-batch L-BFGS evaluations of ~1,200 sites in the screening refit, and ~5
    Levenberg-Marquardt steps of about 6 evaluations each in the last (``make quickstart`` prints
    the time). These settings are the cheapest found that keep the recovery on the bundled example
    (held-out R2 >= 0.9 for all four parameters at 5 of seeds 0-5, as with ScIReN's 30-interval
    grid and 150 sparse epochs at about three times the cost).

    All stages use the same training and validation sites (``train_idx``/``val_idx``, or a
    random 10 % of the training sites chosen by ``seed``); the normalizer is fitted once, in the
    sparse stage (``sparse=dict(refit_normalizer=False)`` keeps ``binn.normalizer``). Returns a
    :class:`PrunedFit`; ``binn`` holds the weights of the last refit.
    """
    head = binn.head
    if not isinstance(head, KANHead):
        raise BinnInputError(f"fit_and_prune needs a BINN with a KANHead; this one has a {type(head).__name__} "
                         "(train an MLP head with fit)")
    if not (head.lamb_l1 > 0 and head.lamb_entropy > 0):
        raise BinnInputError(
            f"fit_and_prune: the KAN's sparsity penalties are off (lamb_l1={head.lamb_l1:g}, "
            f"lamb_entropy={head.lamb_entropy:g}); build it with e.g. KANHead(..., "
            f"lamb_l1={KAN_SETTINGS['lamb_l1']:g}, lamb_entropy={KAN_SETTINGS['lamb_entropy']:g}) "
            "(ScIReN's values, KAN_SETTINGS) so that the sparse stage can tell needed edges from the rest")
    thresholds = (edge_threshold,) if np.ndim(edge_threshold) == 0 else tuple(edge_threshold)
    if not thresholds or not all(isinstance(t, numbers.Real) and t > 0 for t in thresholds):
        raise BinnInputError(f"edge_threshold must be a number > 0 or a non-empty sequence of them, got {edge_threshold!r}")
    if refit_smooth is not None and not refit_smooth >= 0:
        raise BinnInputError(f"refit_smooth must be >= 0 or None, got {refit_smooth}")
    common = dict(seed=seed, progress=progress, num_threads=num_threads)
    own = {"train_idx", "val_idx", *common}
    sparse_settings = _stage_settings(SPARSE_STAGE, sparse, "sparse", own, common)
    screening_settings = _stage_settings(SCREENING_STAGE, screening, "screening", own | {"refit_normalizer"}, common)
    refit_settings = _stage_settings(REFIT_STAGE, refit, "refit", own | {"refit_normalizer"}, common)

    start = time.perf_counter()
    first = fit(binn, dataset, train_idx, val_idx, settings=sparse_settings)
    features = binn.features(dataset)[torch.as_tensor(first.train_idx)].to(device=binn.device, dtype=binn.dtype)
    edges = [head.n_active_edges()]
    head.lamb_l1, head.lamb_entropy = 0.0, 0.0
    refits = []
    for k, threshold in enumerate(thresholds):
        head.prune(features, edge_th=float(threshold))
        edges.append(head.n_active_edges())
        last = k == len(thresholds) - 1
        if refit_smooth is not None and last:
            head.lamb_smooth = float(refit_smooth)
        refits.append(fit(binn, dataset, first.train_idx, first.val_idx,
                          settings=refit_settings if last else screening_settings))
    return PrunedFit(sparse=first, refits=refits, thresholds=tuple(float(t) for t in thresholds), edges=edges,
                     seconds=time.perf_counter() - start)
