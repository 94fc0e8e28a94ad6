"""Training a BINN: AdamW on minibatches of sites, masked loss, early stopping on validation NSE.

:func:`fit` trains the head (and any global parameters) of a :class:`~binn_lite.binn.BINN` on the
observations of a :class:`~binn_lite.dataset.SiteDataset` only -- the parameters themselves are
never seen.

The loss
--------
Observations are NaN-padded ``[n_sites, max_obs]``; only finite entries count (a *masked* loss).
SOC spans about 1e2-1e5 gC m-3 from deep to surface layers, so the scale matters:

``loss="log"`` (default)
    ``L = mean_valid (log y_hat - log y)^2``: squared *relative* errors, every depth and site weighs
    alike. It is the maximum-likelihood loss for multiplicative (log-normal) observation noise,
    the noise of the synthetic data, and it is not dominated by a few very large values. Needs
    positive observations.
``loss="nse"``
    ``L = mean_valid (y_hat - y)^2 / var(y_train)``, the squared error divided by the variance of
    all training observations (one constant, computed once), so ``1 - L`` is the pooled
    Nash-Sutcliffe efficiency of a full batch. Dominated by the large near-surface values.

Measured on the bundled example (1,215 training sites, four parameters, 120 s): both reach the
noise floor of the held-out SOC (NSE 0.974, the NSE of the true parameters is 0.975), but
``"log"`` recovers the parameters better (MLP head, R² efolding/tau_s3/fs1s3/w_scaling
0.44/-0.05/0.63/0.91 against 0.07/-0.63/0.46/0.92 with ``"nse"``; KAN head 0.71/0.44/0.27/0.83
against 0.49/-0.56/-0.30/0.49), and on a two-pool data set with a heavy tail (99th percentile
12 times the median) ``"nse"`` did not train at all while ``"log"`` recovered efolding with R²
0.97.

Early stopping and the optimiser
--------------------------------
``monitor="val_nse"`` (default) keeps the epoch with the best validation NSE; ``"val_loss"`` the
one with the lowest validation loss. NSE is dominated by the large near-surface values and reaches
the noise floor within a few epochs, after which the parameters keep moving along directions it
barely sees; the validation loss weighs every depth alike and keeps improving while they do, so
``"val_loss"`` is the better monitor when the recovered parameters matter.

``optimizer="adamw"`` (default) takes minibatch steps. ``optimizer="lbfgs"`` takes full-batch
L-BFGS steps (Liu & Nocedal 1989; strong-Wolfe line search), ``lbfgs_iterations`` per epoch. The
loss valley of the four CLM5 parameters is long and flat (the Hessian's eigenvalues span three
orders of magnitude, ``bench/identifiability.py``): Adam creeps along it, a quasi-Newton method
follows its curvature. L-BFGS suits small heads (a pruned KAN) once they are near a solution; it
has no decoupled weight decay, so ``weight_decay`` is ignored (regularise with the head's
penalties). :func:`fit_and_prune` uses both: AdamW with the KAN's sparsity penalties, pruning,
then L-BFGS on the pruned KAN.

Everything else
---------------
* Optimiser: AdamW (Loshchilov & Hutter 2019); weight decay on the head only, never on global
  parameters (decay would pull them to the middle of their range).
* Head penalties (``head.penalty()``, KAN sparsity and smoothness, hard-sigmoid bounds) are added
  with weight ``penalty_weight``.
* Validation: if ``val_idx`` is not given, a random 10 % (at least one site) of the training
  sites is held out for early stopping and is *not* used for gradient steps. Training stops after
  ``patience`` epochs without a better validation NSE; the best weights are restored.
* The :class:`~binn_lite.dataset.Normalizer` is fitted on the sites used for gradient steps and
  stored in ``binn.normalizer``.
* Reproducibility: ``seed`` seeds torch and numpy, the validation split and the minibatch order
  (a ``torch.Generator``). Runs on ``device`` ("cpu", "cuda") in ``dtype`` (float32 by default).
* A loss that turns NaN or infinite stops training with a ``RuntimeError`` that names the epoch
  and the likely causes.
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
import time
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .binn import BINN
from .dataset import positions
from .metrics import nse as nse_metric

__all__ = ["fit", "fit_and_prune", "FitResult", "PrunedFit", "LOSSES", "MONITORS", "OPTIMIZERS"]

#: names accepted by ``fit(loss=...)``
LOSSES = ("log", "nse")
#: names accepted by ``fit(monitor=...)``
MONITORS = ("val_nse", "val_loss")
#: names accepted by ``fit(optimizer=...)``
OPTIMIZERS = ("adamw", "lbfgs")

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_nse", "time")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    history : DataFrame, one row per epoch: ``epoch`` (1-based), ``train_loss`` (mean over the
        epoch's minibatches, data term only), ``val_loss``, ``val_nse`` (pooled NSE on the
        validation observations, gC m-3) and ``time`` (seconds since the start).
    best_epoch : epoch whose weights the BINN holds (the last one with ``restore_best=False``).
    best_val_nse, best_val_loss : validation NSE and loss of those weights.
    monitor : what chose the best epoch (``"val_nse"`` or ``"val_loss"``).
    train_idx, val_idx : site positions used for gradient steps and for early stopping.
    stopped_early : True when patience (or ``max_seconds``) ended training before ``epochs``.
    seconds : wall-clock time of the whole fit.
    """

    history: pd.DataFrame
    best_epoch: int
    best_val_nse: float
    train_idx: np.ndarray
    val_idx: np.ndarray
    stopped_early: bool
    seconds: float
    best_val_loss: float = math.nan
    monitor: str = "val_nse"

    def __repr__(self) -> str:
        return (f"FitResult(best_epoch={self.best_epoch}, best_val_nse={self.best_val_nse:.4f}, "
                f"epochs_run={len(self.history)}, stopped_early={self.stopped_early}, seconds={self.seconds:.1f})")


def _positions(index: Any, n: int, what: str) -> np.ndarray:
    """Unique integer site positions (int array / list / boolean mask / slice / tensor)."""
    try:
        array = positions(index, n)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None
    if len(np.unique(array)) != len(array):
        raise ValueError(f"{what}: repeated site positions")
    return array


def _split(dataset: Any, train_idx: Any, val_idx: Any, val_fraction: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(dataset)
    train = np.arange(n) if train_idx is None else _positions(train_idx, n, "train_idx")
    if val_idx is not None:
        val = _positions(val_idx, n, "val_idx")
        if train_idx is None:  # every site that is not for validation
            train = np.setdiff1d(train, val)
        overlap = np.intersect1d(train, val)
        if overlap.size:
            raise ValueError(f"{overlap.size} site(s) are in both train_idx and val_idx, e.g. position {overlap[0]}")
    else:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if len(train) < 2:
            raise ValueError(f"need at least 2 training sites to hold out a validation set; got {len(train)}")
        n_val = max(1, int(round(val_fraction * len(train))))
        shuffled = rng.permutation(train)
        val, train = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"empty split: {len(train)} training and {len(val)} validation sites")
    return train, val


class _Loss:
    """Masked loss on the finite observations (see the module docstring)."""

    def __init__(self, kind: str, train_targets: Tensor) -> None:
        if kind not in LOSSES:
            raise ValueError(f"unknown loss {kind!r}; use one of {', '.join(LOSSES)}")
        self.kind = kind
        finite = train_targets[torch.isfinite(train_targets)]
        if finite.numel() < 2:
            raise ValueError("the training sites have fewer than 2 finite observations")
        if kind == "nse":
            self.scale = float(finite.double().var())
            if not self.scale > 0:
                raise ValueError("the training observations are all equal; loss='nse' is undefined")
        else:
            if bool((finite <= 0).any()):
                raise ValueError(
                    f"loss='log' needs positive observations; the training set has {int((finite <= 0).sum())} "
                    "value(s) <= 0; use loss='nse'"
                )
            self.scale = 1.0

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        mask = torch.isfinite(target)
        count = mask.sum()
        if int(count) == 0:
            return pred.new_zeros(())
        p = torch.where(mask, pred, torch.ones_like(pred))  # NaN-free so gradients stay clean
        t = torch.where(mask, target, torch.ones_like(target))
        if self.kind == "log":
            residual = torch.log(torch.clamp(p, min=torch.finfo(p.dtype).tiny)) - torch.log(t)
        else:
            residual = p - t
        return (residual.pow(2) * mask).sum() / count / self.scale


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)`` (nothing if ``n`` is None), then restore."""
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _gradients_finite(params: Sequence[Tensor]) -> bool:
    """True when every gradient entry is finite (one reduction per tensor, no copy)."""
    grads = [p.grad for p in params if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.stack([g.sum() for g in grads])).all())


def _nonfinite_message(what: str, epoch: int, binn: BINN, lr: float, dtype: torch.dtype) -> str:
    outside = []
    for name in binn.fixed_names:
        p = binn.table[name]
        value = float(binn.fixed_values[binn.table.index(name)])
        if not p.low <= value <= p.high:
            outside.append(f"{name}={value:g} (range {p.low:g}-{p.high:g})")
    causes = [
        f"the learning rate is too high (lr={lr:g}); try lr={lr / 10:g}",
        ("fixed parameter values outside their ranges: " + ", ".join(outside)) if outside
        else "fixed parameter values far from their ranges (all are inside here)",
        "forcing that stops decomposition (e.g. a water scalar or w_scaling of 0): the steady state then "
        "holds input / rate-floor, astronomically large, and overflows",
        "huge predictions where nothing is observed (e.g. deep layers): their gradient can overflow even "
        "when the loss is finite",
        "observations or covariates with extreme values (check units)",
    ]
    if dtype == torch.float32:
        causes.append("float32 overflow of a huge prediction; try dtype=torch.float64")
    return (f"{what} became NaN or infinite at epoch {epoch}. Likely causes: "
            + "; ".join(f"({i + 1}) {c}" for i, c in enumerate(causes)) + ".")


def fit(
    binn: BINN,
    dataset: Any,
    train_idx: Any = None,
    val_idx: Any = None,
    *,
    epochs: int = 300,
    batch_size: int = 256,
    lr: float | None = None,
    weight_decay: float = 1e-4,
    global_lr: float | None = None,
    patience: int = 30,
    min_delta: float = 0.0,
    loss: str = "log",
    monitor: str = "val_nse",
    optimizer: str = "adamw",
    lbfgs_iterations: int = 20,
    penalty_weight: float = 1.0,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    max_seconds: float | None = None,
    refit_normalizer: bool = True,
    num_threads: int | None = None,
    restore_best: bool = True,
) -> FitResult:
    """Train ``binn`` on ``dataset`` in place and return the history.

    Parameters
    ----------
    binn : the BINN to train (its head and global parameters change in place).
    dataset : a :class:`~binn_lite.dataset.SiteDataset` with the process model's forcing.
    train_idx, val_idx : site positions (int arrays, lists, boolean masks). Default: all sites (all
        but ``val_idx``) for training, 10 % of them (``val_fraction``) held out at random for early
        stopping when ``val_idx`` is not given.
    epochs : maximum number of passes over the training sites (L-BFGS: of L-BFGS steps).
    batch_size : sites per gradient step (``>= len(train)`` gives full-batch gradient descent;
        L-BFGS always uses the full batch).
    lr : AdamW learning rate of the head (default 3e-3); for L-BFGS the step scale (default 1).
    weight_decay : AdamW's decoupled weight decay on the head (ignored by L-BFGS).
    global_lr : AdamW learning rate of the global parameters (default ``10 * lr``: a global
        parameter is one number that every site's gradient pulls on, and Adam moves it by about
        ``lr`` per step).
    patience, min_delta : stop after ``patience`` epochs whose monitored value does not beat the
        best by more than ``min_delta``.
    loss : ``"log"`` or ``"nse"`` (see the module docstring).
    monitor : ``"val_nse"`` or ``"val_loss"``: what picks the best epoch (see the module docstring).
    optimizer : ``"adamw"`` or ``"lbfgs"`` (see the module docstring).
    lbfgs_iterations : L-BFGS iterations per epoch.
    penalty_weight : weight of ``head.penalty()`` in the objective.
    seed : seeds torch, numpy, the validation split and the minibatch order.
    device, dtype : where and in which precision to train; the BINN stays there afterwards.
    progress : show a tqdm progress bar with the live loss.
    max_seconds : stop (keeping the best weights) once training has run this long.
    refit_normalizer : fit a new normalizer on the training sites (False keeps ``binn.normalizer``,
        e.g. to continue training).
    restore_best : end with the weights of the best epoch (default) or, with False, those of the
        last epoch (e.g. to prune after a sparsity stage whose penalties act until the end).
    num_threads : CPU threads for torch during training (restored afterwards); None leaves torch's
        setting. One thread is often fastest for these small batches, and much faster on a busy
        machine: on 2 shared cores an epoch of the example took 0.27 s with 1 thread, 4 s with 2.

    Returns
    -------
    FitResult; ``binn`` holds the weights of the best validation epoch and is left in eval mode.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience),
                        ("lbfgs_iterations", lbfgs_iterations)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if monitor not in MONITORS:
        raise ValueError(f"unknown monitor {monitor!r}; use one of {', '.join(MONITORS)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if lr is None:
        lr = 1.0 if optimizer == "lbfgs" else 3e-3
    for name, value in (("lr", lr), ("global_lr", lr if global_lr is None else global_lr)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    with _torch_threads(num_threads):
        return _fit(binn, dataset, train_idx, val_idx, epochs=int(epochs), batch_size=int(batch_size), lr=lr,
                    weight_decay=weight_decay, global_lr=10 * lr if global_lr is None else global_lr,
                    patience=int(patience), min_delta=min_delta, loss=loss, monitor=monitor,
                    optimizer=optimizer, lbfgs_iterations=int(lbfgs_iterations), penalty_weight=penalty_weight,
                    val_fraction=val_fraction, seed=seed, device=torch.device(device), dtype=dtype,
                    progress=progress, max_seconds=max_seconds, refit_normalizer=refit_normalizer,
                    restore_best=bool(restore_best))


class _Sites(NamedTuple):
    """Network inputs, forcing, coordinates and targets of a set of sites, ready on the device."""

    x: Tensor
    forcing: Any
    coords: Tensor
    y: Tensor

    def take(self, index: Tensor) -> "_Sites":
        return _Sites(self.x[index], self.forcing[index], self.coords[index], self.y[index])


def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of the minibatches; a last batch of one site joins the one before (batch norm)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n]))


def _fit(binn: BINN, dataset: Any, train_idx: Any, val_idx: Any, *, epochs: int, batch_size: int, lr: float,
         weight_decay: float, global_lr: float, patience: int, min_delta: float, loss: str, monitor: str,
         optimizer: str, lbfgs_iterations: int, penalty_weight: float,
         val_fraction: float, seed: int, device: torch.device, dtype: torch.dtype, progress: bool,
         max_seconds: float | None, refit_normalizer: bool, restore_best: bool) -> FitResult:
    start_time = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    generator = torch.Generator().manual_seed(seed)

    # -- data: split, normalise, and move everything the loop touches to the device once --------
    train, val = _split(dataset, train_idx, val_idx, val_fraction, np.random.default_rng(seed))
    if refit_normalizer or binn.normalizer is None:
        binn.normalizer = dataset.fit_normalizer(train)
    n_inputs, names = getattr(binn.head, "n_inputs", None), binn.normalizer.feature_names
    if n_inputs is not None and n_inputs != len(names):
        raise ValueError(f"the head takes {n_inputs} inputs but the dataset has {len(names)} features "
                         f"({', '.join(names)})")
    binn.to(device=device, dtype=dtype)
    features = binn.features(dataset).to(device=device, dtype=dtype)

    def sites(index: np.ndarray) -> _Sites:
        rows = torch.as_tensor(index, dtype=torch.long)
        return _Sites(features[rows.to(device)], dataset.forcing[rows].to(device=device, dtype=dtype),
                      dataset.coords[rows].to(device=device, dtype=dtype),
                      dataset.targets[rows].to(device=device, dtype=dtype))

    training, validation = sites(train), sites(val)
    objective = _Loss(loss, training.y)
    if not bool(torch.isfinite(validation.y).any()):
        raise ValueError("the validation sites have no finite observation")

    # -- optimiser: weight decay on the head only ---------------------------------------------------
    network = [p for p in (*binn.head.parameters(), *binn.process_model.parameters()) if p.requires_grad]
    groups = [{"params": network, "weight_decay": weight_decay}]
    if binn.global_names:
        groups.append({"params": [binn.global_logits], "weight_decay": 0.0, "lr": global_lr})
    trainable = [p for group in groups for p in group["params"]]
    if optimizer == "lbfgs":
        optimiser = torch.optim.LBFGS(trainable, lr=lr, max_iter=lbfgs_iterations, history_size=50,
                                      line_search_fn="strong_wolfe")
    else:
        optimiser = torch.optim.AdamW(groups, lr=lr)

    def fail(what: str, epoch: int) -> RuntimeError:
        bar.close()
        return RuntimeError(_nonfinite_message(what, epoch, binn, lr, dtype))

    def backward(batch: _Sites, epoch: int) -> tuple[Tensor, Tensor]:
        """Objective (data loss + penalties) of ``batch`` with its gradients; (objective, data loss)."""
        optimiser.zero_grad(set_to_none=True)
        data_loss = objective(binn.predict(batch.x, batch.forcing, batch.coords), batch.y)
        value = data_loss + penalty_weight * binn.penalty() if penalty_weight else data_loss
        if not bool(torch.isfinite(value)):
            raise fail("the training loss", epoch)
        value.backward()
        if not _gradients_finite(trainable):
            raise fail("the gradient", epoch)
        return value, data_loss.detach()

    def lbfgs_epoch(epoch: int) -> float:
        """One full-batch L-BFGS step (``lbfgs_iterations`` iterations); the data loss of its last evaluation."""
        binn.train()
        last = [torch.zeros(())]

        def closure() -> Tensor:
            value, last[0] = backward(training, epoch)
            return value

        optimiser.step(closure)
        return float(last[0])

    def train_epoch(epoch: int) -> float:
        """One pass over the training sites; the mean data loss of its minibatches, weighted by size."""
        if optimizer == "lbfgs":
            return lbfgs_epoch(epoch)
        binn.train()
        full_batch = batch_size >= len(train)
        order = None if full_batch else torch.randperm(len(train), generator=generator).to(device)
        total, count = 0.0, 0
        for start, stop in _batches(len(train), batch_size):
            batch = training if full_batch else training.take(order[start:stop])
            _, data_loss = backward(batch, epoch)
            optimiser.step()
            total += float(data_loss) * (stop - start)
            count += stop - start
        return total / count

    def evaluate(epoch: int) -> tuple[float, float]:
        """Validation loss and pooled NSE (in the unit of the observations)."""
        binn.eval()
        with torch.no_grad():
            pred = binn.predict(validation.x, validation.forcing, validation.coords)
        if not bool(torch.isfinite(pred[torch.isfinite(validation.y)]).all()):
            raise fail("the validation prediction", epoch)
        return float(objective(pred, validation.y)), nse_metric(pred, validation.y)

    # -- the loop: early stopping on the monitored value, best weights kept -------------------------
    from tqdm.auto import tqdm

    rows: list[dict[str, float]] = []
    best_score, best_nse, best_loss = -math.inf, -math.inf, math.nan
    best_epoch, best_state, waited, stopped_early = 0, None, 0, False
    label = "fit" if optimizer == "adamw" else "fit (L-BFGS)"
    bar = tqdm(range(1, epochs + 1), desc=label, unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        train_loss = train_epoch(epoch)
        val_loss, val_nse = evaluate(epoch)
        elapsed = time.perf_counter() - start_time
        rows.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_nse": val_nse,
                     "time": elapsed})
        score = val_nse if monitor == "val_nse" else -val_loss  # higher is better
        if best_state is None or score > best_score + min_delta:
            best_score, best_nse, best_loss, best_epoch, waited = score, val_nse, val_loss, epoch, 0
            best_state = copy.deepcopy(binn.state_dict())
        else:
            waited += 1
        bar.set_postfix(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}", val_nse=f"{val_nse:.4f}",
                        best=best_epoch, refresh=False)
        if waited >= patience or (max_seconds is not None and elapsed > max_seconds):
            stopped_early = epoch < epochs
            break
    bar.close()
    if restore_best:
        binn.load_state_dict(best_state)
    else:
        last = rows[-1]
        best_nse, best_loss, best_epoch = last["val_nse"], last["val_loss"], int(last["epoch"])
    binn.eval()
    return FitResult(history=pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)), best_epoch=best_epoch,
                     best_val_nse=best_nse, train_idx=train, val_idx=val, stopped_early=stopped_early,
                     seconds=time.perf_counter() - start_time, best_val_loss=best_loss, monitor=monitor)


#: stage-1 settings of :func:`fit_and_prune` (AdamW with the KAN's sparsity penalties)
SPARSE_STAGE = dict(epochs=150, batch_size=128, lr=1e-2, patience=150, monitor="val_loss", restore_best=False)
#: stage-2 settings of :func:`fit_and_prune` (L-BFGS on the pruned KAN)
REFIT_STAGE = dict(optimizer="lbfgs", epochs=10, lbfgs_iterations=20, patience=10, monitor="val_loss",
                   restore_best=False)
#: edge thresholds of :func:`fit_and_prune`'s prune-and-refit rounds (pykan attribution scores)
EDGE_THRESHOLDS = (0.02, 0.05)
#: the KAN's smoothness weight in :func:`fit_and_prune`'s last refit
REFIT_SMOOTH = 3e-4


@dataclass
class PrunedFit:
    """What :func:`fit_and_prune` returns.

    Attributes
    ----------
    sparse : the :class:`FitResult` of the sparse stage.
    refits : one :class:`FitResult` per prune-and-refit round.
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


def fit_and_prune(
    binn: BINN,
    dataset: Any,
    train_idx: Any = None,
    val_idx: Any = None,
    *,
    edge_threshold: float | Sequence[float] = EDGE_THRESHOLDS,
    refit_smooth: float | None = REFIT_SMOOTH,
    sparse: dict[str, Any] | None = None,
    refit: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = True,
    num_threads: int | None = None,
) -> PrunedFit:
    """ScIReN's recipe for a KAN head: train sparse, prune, refit (Liu et al. 2024, section 2.5).

    1. **Sparse stage** -- :func:`fit` with AdamW and the head's L1 and entropy penalties
       (``KANHead(lamb_l1=..., lamb_entropy=...)``, both must be > 0): edges that do not help
       explain the SOC shrink towards zero. The penalties act until the last epoch, so the last
       weights are pruned, not the best validation epoch's. Settings: :data:`SPARSE_STAGE`
       updated by ``sparse``.
    2. **Prune and refit**, once per value of ``edge_threshold`` (default :data:`EDGE_THRESHOLDS`,
       two rounds): :meth:`KANHead.prune` masks every edge whose pykan attribution score on the
       training covariates is below the threshold, then the pruned KAN is refitted, by default with
       full-batch L-BFGS run to convergence (no early stopping: the validation loss of ~130 sites
       is too noisy to judge the last small steps along the flat valley, and a pruned, smoothed KAN
       has little left to overfit). Settings: :data:`REFIT_STAGE` updated by ``refit``. Before the
       first refit the L1 and entropy weights are set to 0 (they would keep shrinking the edges
       that remain, biasing the parameters); before the last one the smoothness weight is set to
       ``refit_smooth`` (None keeps the head's).

    Why: with all 10 x 4 edges free, spurious edges from covariates correlated with the true
    drivers can trade off along the flat directions of the loss (a bit more tau_s3 here, a bit
    less w_scaling there) and the parameters drift; with only the edges the data need, the
    parameters are pinned down. A second, stricter round removes the weak spurious edges that the
    first refit (still with the head's smoothing) has made easy to tell from the real ones. That
    smoothing (``lamb_smooth=1e-3`` in the quickstart) keeps the curves clean but flattens the
    curvature of the true relationships, and the model makes up for it with a common bias along the
    weakest direction of the loss (mainly tau_s3); a lighter ``refit_smooth`` in the last refit
    removes that bias (none at all lets the curves wiggle).
    Measured on the bundled example: see the README ("Recovering the parameters").

    All stages use the same training and validation sites (``train_idx``/``val_idx``, or a
    random 10 % of the training sites chosen by ``seed``); the normalizer is fitted once, in the
    sparse stage (``sparse=dict(refit_normalizer=False)`` keeps ``binn.normalizer``). Returns a
    :class:`PrunedFit`; ``binn`` holds the weights of the last refit.
    """
    from .heads import KANHead

    head = binn.head
    if not isinstance(head, KANHead):
        raise ValueError(f"fit_and_prune needs a BINN with a KANHead; this one has a {type(head).__name__} "
                         "(train an MLP head with fit)")
    if not (head.lamb_l1 > 0 and head.lamb_entropy > 0):
        raise ValueError(
            f"fit_and_prune: the KAN's sparsity penalties are off (lamb_l1={head.lamb_l1:g}, "
            f"lamb_entropy={head.lamb_entropy:g}); build it with e.g. KANHead(..., lamb_l1=3e-4, "
            "lamb_entropy=3e-4) so that the sparse stage can tell needed edges from the rest")
    thresholds = (edge_threshold,) if np.ndim(edge_threshold) == 0 else tuple(edge_threshold)
    if not thresholds or not all(isinstance(t, numbers.Real) and t > 0 for t in thresholds):
        raise ValueError(f"edge_threshold must be a number > 0 or a non-empty sequence of them, got {edge_threshold!r}")
    if refit_smooth is not None and not refit_smooth >= 0:
        raise ValueError(f"refit_smooth must be >= 0 or None, got {refit_smooth}")
    for name, options in (("sparse", sparse), ("refit", refit)):
        own = {"train_idx", "val_idx", "seed", "progress", "num_threads"} | ({"refit_normalizer"} if name == "refit" else set())
        clash = own & set(options or {})
        if clash:
            raise ValueError(f"fit_and_prune: set {', '.join(sorted(clash))} as arguments of fit_and_prune, "
                             f"not in {name}=")
    start = time.perf_counter()
    common = dict(seed=seed, progress=progress, num_threads=num_threads)
    first = fit(binn, dataset, train_idx, val_idx, **{**SPARSE_STAGE, **(sparse or {})}, **common)
    features = binn.features(dataset)[torch.as_tensor(first.train_idx)].to(device=binn.device, dtype=binn.dtype)
    edges = [head.n_active_edges()]
    head.lamb_l1, head.lamb_entropy = 0.0, 0.0
    refits = []
    for k, threshold in enumerate(thresholds):
        head.prune(features, edge_th=float(threshold))
        edges.append(head.n_active_edges())
        if refit_smooth is not None and k == len(thresholds) - 1:
            head.lamb_smooth = float(refit_smooth)
        refits.append(fit(binn, dataset, first.train_idx, first.val_idx, refit_normalizer=False,
                          **{**REFIT_STAGE, **(refit or {})}, **common))
    return PrunedFit(sparse=first, refits=refits, thresholds=tuple(float(t) for t in thresholds), edges=edges,
                     seconds=time.perf_counter() - start)
