"""Training a BINN: AdamW on minibatches of sites, masked loss, early stopping on validation NSE.

:func:`fit` trains the head (and any global parameters) of a :class:`~binn_lite.binn.BINN` on the
observations of a :class:`~binn_lite.dataset.SiteDataset` only -- the parameters themselves are
never seen. Every setting (epochs, learning rate, loss, ...) is a field of :class:`FitSettings`;
``fit(binn, data, epochs=100, lr=1e-2)`` sets some by keyword.

The loss is :mod:`binn_lite.losses` (``loss="log"``, the default, or ``"nse"``).

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
penalties). ``optimizer="lm"`` takes one full-batch Levenberg-Marquardt step per epoch
(:mod:`binn_lite.levenberg_marquardt`): it computes the Gauss-Newton curvature from per-site
Jacobians instead of learning it, and on a pruned KAN reaches the minimum in a handful of steps;
training ends early once no step lowers the loss. It trains the head's weights alone (no global
parameters, one process) and ignores ``lr`` and ``weight_decay``. ScIReN's recipe,
:func:`binn_lite.heads.sciren.fit_and_prune`, uses all three: AdamW with the KAN's sparsity
penalties, pruning, a short L-BFGS screening refit, pruning again, then Levenberg-Marquardt.

Everything else
---------------
* Optimiser: AdamW (Loshchilov & Hutter 2019; torch's update, :mod:`binn_lite.adamw`); weight decay
  on the head only, never on global parameters (decay would pull them to the middle of their range).
* Head penalties (``head.penalty()``, KAN sparsity and smoothness, hard-sigmoid bounds) are added
  with weight ``penalty_weight``.
* Validation: if ``val_idx`` is not given, a random 10 % (at least one site) of the training
  sites is held out for early stopping and is *not* used for gradient steps. Training stops after
  ``patience`` epochs without a better monitored value; the best weights are restored.
* The :class:`~binn_lite.dataset.Normalizer` is fitted on the sites used for gradient steps and
  stored in ``binn.normalizer``.
* Reproducibility: ``seed`` seeds torch and numpy, the validation split and the minibatch order
  (a ``torch.Generator``). Runs on ``device`` ("cpu", "cuda") in ``dtype`` (float32 by default).
* Divergence: a loss, gradient, head output or prediction that turns NaN or infinite, a loss
  that explodes, or a run stuck far off the observations with the head's outputs pinned at their
  bounds stops training with :class:`~binn_lite.errors.TrainingDiverged` (a ``RuntimeError``)
  that names the epoch, the symptom and the likely causes -- generic ones, plus the process
  model's own ``nonfinite_hints`` (:mod:`binn_lite.process`). The BINN then gets back the weights
  it had before ``fit``. The rules and their thresholds: :mod:`binn_lite.divergence`.

Long runs and several processes
-------------------------------
* Checkpoints: with ``checkpoint="run/train_state.pt"`` the whole training state is written every
  ``checkpoint_every`` epochs; calling ``fit`` again the same way resumes from it to the result of
  an uninterrupted run (:mod:`binn_lite.resume`).
* Inside a ``torchrun`` process group (:func:`binn_lite.distributed.init`) ``fit`` trains data
  parallel: ``batch_size`` is the global batch, each process computes its share and the gradients
  are averaged (:mod:`binn_lite.distributed`). Only process 0 writes checkpoints and shows the bar.

The steps of one run
--------------------
:class:`_Trainer` spells :func:`fit` out: prepare the sites (split, normalise, move to the device),
build the optimiser, then per epoch one minibatch (or L-BFGS, or LM) pass, an evaluation on the
validation sites, a divergence check (:class:`~binn_lite.divergence.DivergenceWatch`) and an
early-stopping check (:class:`_EarlyStopping`) that keeps the best weights.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from . import resume
from .adamw import AdamW
from .binn import BINN
from .dataset import positions
from .distributed import DataParallel
from .divergence import DivergenceWatch, nonfinite_message, saturated_share
from .errors import BinnInputError, TrainingDiverged
from .heads.base import Head
from .levenberg_marquardt import MAX_WEIGHTS, LevenbergMarquardt, gauss_newton_curvature
from .losses import LOSSES, MaskedLoss
from .threads import DEFAULT_THREADS, checked_num_threads, torch_threads
from .metrics import nse as nse_metric

__all__ = ["fit", "FitSettings", "FitResult", "MONITORS", "OPTIMIZERS"]

#: names accepted by ``fit(monitor=...)``
MONITORS = ("val_nse", "val_loss")
#: names accepted by ``fit(optimizer=...)``
OPTIMIZERS = ("adamw", "lbfgs", "lm")

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_nse", "time")


# -------------------------------------------------------------------------------------------------
# What fit takes and what it returns
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitSettings:
    """Every setting of :func:`fit`; each field's comment says what it does, its default is its value.

    ``fit(binn, data, epochs=100)`` is ``fit(binn, data, settings=FitSettings(epochs=100))``.
    The values are checked when the settings are built; :meth:`replace` gives a checked copy with
    some settings changed.
    """

    # -- how long -------------------------------------------------------------------------------
    #: most passes over the training sites (L-BFGS: most L-BFGS steps; LM: most LM steps)
    epochs: int = 300
    #: stop after this many epochs whose monitored value does not beat the best by ``min_delta``
    patience: int = 30
    #: the improvement that counts, in the monitor's unit (NSE or loss)
    min_delta: float = 0.0
    #: stop, keeping the best weights, once this call of fit has run this many seconds (None: no
    #: limit); with a ``checkpoint``, calling fit again continues the run
    max_seconds: float | None = None

    # -- the optimiser --------------------------------------------------------------------------
    #: ``"adamw"`` (minibatch steps), ``"lbfgs"`` or ``"lm"`` (full batch; see the module docstring)
    optimizer: str = "adamw"
    #: sites per AdamW step (``>= len(train)``: full-batch gradient descent; L-BFGS ignores it)
    batch_size: int = 256
    #: learning rate of the head; for L-BFGS the step scale (None: 3e-3 for AdamW, 1.0 for L-BFGS;
    #: LM sets its own step and ignores it)
    lr: float | None = None
    #: AdamW learning rate of the global parameters (None: ``10 * lr``). A global parameter is one
    #: number that every site's gradient pulls on, and Adam moves it by about ``lr`` per step.
    global_lr: float | None = None
    #: AdamW's decoupled weight decay on the head, never on global parameters (L-BFGS and LM ignore it)
    weight_decay: float = 1e-4
    #: L-BFGS iterations per epoch
    lbfgs_iterations: int = 20

    # -- the objective and early stopping -------------------------------------------------------
    #: ``"log"`` or ``"nse"`` (:mod:`binn_lite.losses`)
    loss: str = "log"
    #: weight of ``head.penalty()`` (KAN sparsity and smoothness, hard-sigmoid bounds) in the objective
    penalty_weight: float = 1.0
    #: what picks the best epoch: ``"val_nse"`` (highest) or ``"val_loss"`` (lowest)
    monitor: str = "val_nse"
    #: end with the weights of the best epoch; False: of the last one (e.g. to prune after a
    #: sparsity stage whose penalties act until the end)
    restore_best: bool = True

    # -- the data -------------------------------------------------------------------------------
    #: share of the training sites held out for early stopping when ``val_idx`` is not given
    #: (at least one site)
    val_fraction: float = 0.1
    #: fit a new normalizer on the training sites; False keeps ``binn.normalizer`` (to continue training)
    refit_normalizer: bool = True

    # -- where and how --------------------------------------------------------------------------
    #: seeds torch, numpy, the validation split and the minibatch order
    seed: int = 0
    #: where to train ("cpu", "cuda"); the BINN stays there afterwards
    device: str | torch.device = "cpu"
    #: the precision to train in; the BINN stays in it afterwards
    dtype: torch.dtype = torch.float32
    #: CPU threads for torch during training, restored afterwards (None: leave torch's setting).
    #: One by default: these batches are too small to share out, and when another process keeps a
    #: core busy, torch's OpenMP threads spin-wait for each other (measurements: :mod:`binn_lite.threads`).
    num_threads: int | None = DEFAULT_THREADS
    #: show a tqdm progress bar with the live loss
    progress: bool = True

    # -- long runs ------------------------------------------------------------------------------
    #: file of the training state, written every ``checkpoint_every`` epochs and at the end; if it
    #: exists, fit resumes from it (:mod:`binn_lite.resume`). None: no checkpoints
    checkpoint: str | None = None
    #: epochs between two checkpoints
    checkpoint_every: int = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "lbfgs_iterations", "checkpoint_every"):
            value = getattr(self, name)
            if int(value) < 1:
                raise BinnInputError(f"{name} must be >= 1, got {value}")
            object.__setattr__(self, name, int(value))
        for name, value, options in (("loss", self.loss, LOSSES), ("monitor", self.monitor, MONITORS),
                                     ("optimizer", self.optimizer, OPTIMIZERS)):
            if value not in options:
                raise BinnInputError(f"unknown {name} {value!r}; use one of {', '.join(options)}")
        for name, value in zip(("lr", "global_lr"), self.learning_rates()):
            if not value > 0:
                raise BinnInputError(f"{name} must be > 0, got {value}")
        object.__setattr__(self, "num_threads", checked_num_threads(self.num_threads))
        object.__setattr__(self, "device", torch.device(self.device))
        object.__setattr__(self, "restore_best", bool(self.restore_best))
        if self.checkpoint is not None:
            object.__setattr__(self, "checkpoint", str(self.checkpoint))

    def learning_rates(self) -> tuple[float, float]:
        """(head, global parameters) learning rates, the defaults filled in."""
        lr = self.lr if self.lr is not None else (3e-3 if self.optimizer == "adamw" else 1.0)
        return lr, 10 * lr if self.global_lr is None else self.global_lr

    def replace(self, **changes: Any) -> "FitSettings":
        """A copy with ``changes`` applied (checked like a new one)."""
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise BinnInputError(f"unknown fit setting(s) {', '.join(unknown)}; the settings are the fields of "
                            f"FitSettings: {', '.join(field.name for field in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)


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
    stopped_early : True when patience, ``max_seconds`` or (Levenberg-Marquardt) convergence ended
        training before ``epochs``.
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


def fit(binn: BINN, dataset: Any, train_idx: Any = None, val_idx: Any = None, *,
        settings: FitSettings | None = None, **changes: Any) -> FitResult:
    """Train ``binn`` on ``dataset`` in place and return the history.

    Parameters
    ----------
    binn : the BINN to train (its head and global parameters change in place).
    dataset : a :class:`~binn_lite.dataset.SiteDataset` with the process model's forcing.
    train_idx, val_idx : site positions (int arrays, lists, boolean masks). Default: all sites (all
        but ``val_idx``) for training, 10 % of them (``val_fraction``) held out at random for early
        stopping when ``val_idx`` is not given.
    settings : a :class:`FitSettings` (default: ``FitSettings()``, every default).
    **changes : settings to change by name, e.g. ``epochs=100, lr=1e-2`` -- any field of
        :class:`FitSettings` (which documents them all).

    Returns
    -------
    FitResult; ``binn`` holds the weights of the best validation epoch and is left in eval mode.

    Raises
    ------
    TrainingDiverged : the run diverged (:mod:`binn_lite.divergence`); ``binn`` holds the weights
        it had before ``fit``, and the message says what to change.
    """
    settings = (FitSettings() if settings is None else settings).replace(**changes)
    before = copy.deepcopy(binn.state_dict())
    with torch_threads(settings.num_threads):
        try:
            return _Trainer(binn, dataset, train_idx, val_idx, settings).run()
        except TrainingDiverged:
            binn.load_state_dict(before)
            binn.eval()
            raise


# -------------------------------------------------------------------------------------------------
# The pieces: site split, minibatches, early stopping
# -------------------------------------------------------------------------------------------------
def _positions(index: Any, n: int, what: str) -> np.ndarray:
    """Unique integer site positions (int array / list / boolean mask / slice / tensor)."""
    try:
        array = positions(index, n)
    except ValueError as error:
        raise BinnInputError(f"{what}: {error}") from None
    if len(np.unique(array)) != len(array):
        raise BinnInputError(f"{what}: repeated site positions")
    return array


def _split(dataset: Any, train_idx: Any, val_idx: Any, val_fraction: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) site positions; without ``val_idx`` a random ``val_fraction`` of the
    training sites is held out."""
    n = len(dataset)
    train = np.arange(n) if train_idx is None else _positions(train_idx, n, "train_idx")
    if val_idx is not None:
        val = _positions(val_idx, n, "val_idx")
        if train_idx is None:  # every site that is not for validation
            train = np.setdiff1d(train, val)
        overlap = np.intersect1d(train, val)
        if overlap.size:
            raise BinnInputError(f"{overlap.size} site(s) are in both train_idx and val_idx, "
                                 f"e.g. position {overlap[0]}")
    else:
        if not 0.0 < val_fraction < 1.0:
            raise BinnInputError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if len(train) < 2:
            raise BinnInputError(f"need at least 2 training sites to hold out a validation set; got {len(train)}")
        n_val = max(1, int(round(val_fraction * len(train))))
        shuffled = rng.permutation(train)
        val, train = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])
    if len(train) == 0 or len(val) == 0:
        raise BinnInputError(f"empty split: {len(train)} training and {len(val)} validation sites")
    return train, val


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


class _EarlyStopping:
    """Remember the best epoch (by ``monitor``) and its weights; count the epochs since."""

    def __init__(self, monitor: str, min_delta: float, patience: int) -> None:
        self.monitor, self.min_delta, self.patience = monitor, min_delta, patience
        self.score, self.val_nse, self.val_loss = -math.inf, -math.inf, math.nan
        self.epoch, self.state, self.waited = 0, None, 0

    def update(self, epoch: int, val_loss: float, val_nse: float, binn: BINN) -> None:
        """Record an epoch; keep a copy of ``binn``'s weights if it beats the best by ``min_delta``."""
        score = val_nse if self.monitor == "val_nse" else -val_loss  # higher is better
        if self.state is None or score > self.score + self.min_delta:
            self.score, self.val_nse, self.val_loss, self.epoch, self.waited = score, val_nse, val_loss, epoch, 0
            self.state = copy.deepcopy(binn.state_dict())
        else:
            self.waited += 1

    @property
    def out_of_patience(self) -> bool:
        return self.waited >= self.patience


def _gradients_finite(params: Sequence[Tensor]) -> bool:
    """True when every gradient entry is finite (one reduction per tensor, no copy)."""
    grads = [p.grad for p in params if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.stack([g.sum() for g in grads])).all())


# -------------------------------------------------------------------------------------------------
# One run of fit, step by step
# -------------------------------------------------------------------------------------------------
class _Trainer:
    """One run of :func:`fit`: set-up in ``__init__``, then :meth:`run` (the epoch loop)."""

    def __init__(self, binn: BINN, dataset: Any, train_idx: Any, val_idx: Any, settings: FitSettings) -> None:
        self.start_time = time.perf_counter()
        self.binn, self.settings = binn, settings
        self.lr, self.global_lr = settings.learning_rates()
        self.default_lr = FitSettings(optimizer=settings.optimizer).learning_rates()[0]  # for advice
        self.advice_lr = None if settings.optimizer == "lm" else self.lr  # LM has no learning rate to blame
        torch.manual_seed(settings.seed)
        np.random.seed(settings.seed % 2**32)
        self.generator = torch.Generator().manual_seed(settings.seed)  # the minibatch order
        self.train_idx, self.val_idx = _split(dataset, train_idx, val_idx, settings.val_fraction,
                                              np.random.default_rng(settings.seed))
        self.training, self.validation = self.prepare_sites(dataset)
        self.parallel = DataParallel.current()  # None in a single process
        if self.parallel is not None:
            self.parallel.broadcast(self.binn)
        self.objective = MaskedLoss(settings.loss, self.training.y)
        if not bool(torch.isfinite(self.validation.y).any()):
            raise BinnInputError("the validation sites have no finite observation")
        self.trainable, self.optimiser = self.make_optimiser()

    # -- set-up ------------------------------------------------------------------------------------
    def prepare_sites(self, dataset: Any) -> tuple[_Sites, _Sites]:
        """Fit the normalizer, then move the training and validation sites to the device once."""
        binn, device, dtype = self.binn, self.settings.device, self.settings.dtype
        if self.settings.refit_normalizer or binn.normalizer is None:
            binn.normalizer = dataset.fit_normalizer(self.train_idx)
        n_inputs, names = getattr(binn.head, "n_inputs", None), binn.normalizer.feature_names
        if n_inputs is not None and n_inputs != len(names):
            raise BinnInputError(f"the head takes {n_inputs} inputs but the dataset has {len(names)} features "
                             f"({', '.join(names)})")
        binn.to(device=device, dtype=dtype)
        features = binn.features(dataset).to(device=device, dtype=dtype)

        precompute = getattr(binn.process_model, "precompute", None)  # the contract's section 6

        def sites(index: np.ndarray) -> _Sites:
            rows = torch.as_tensor(index, dtype=torch.long)
            forcing = dataset.forcing[rows].to(device=device, dtype=dtype)
            if precompute is not None:  # once, what the fixed parameters decide (CLM5: V, B I, scalars)
                fixed = binn.fixed_values.to(device=device, dtype=dtype).expand(len(rows), -1)
                forcing = precompute(forcing, fixed, binn.learned + binn.global_names)
            return _Sites(features[rows.to(device)], forcing, dataset.coords[rows].to(device=device, dtype=dtype),
                          dataset.targets[rows].to(device=device, dtype=dtype))

        return sites(self.train_idx), sites(self.val_idx)

    def make_optimiser(self) -> tuple[list[Tensor], AdamW | torch.optim.LBFGS | LevenbergMarquardt]:
        """(trainable tensors, optimiser): weight decay on the head only, ``global_lr`` for globals."""
        binn, s = self.binn, self.settings
        network = [p for p in (*binn.head.parameters(), *binn.process_model.parameters()) if p.requires_grad]
        groups = [{"params": network, "weight_decay": s.weight_decay}]
        if binn.global_names:
            groups.append({"params": [binn.global_logits], "weight_decay": 0.0, "lr": self.global_lr})
        trainable = [p for group in groups for p in group["params"]]
        if s.optimizer == "lbfgs":
            return trainable, torch.optim.LBFGS(trainable, lr=self.lr, max_iter=s.lbfgs_iterations,
                                                history_size=50, line_search_fn="strong_wolfe")
        if s.optimizer == "lm":
            self.check_lm()
            return trainable, LevenbergMarquardt([p for _, p in binn.head.second_order_parameters()])
        return trainable, AdamW(groups, lr=self.lr)  # torch's AdamW update (binn_lite.adamw says why not its class)

    def check_lm(self) -> None:
        """What ``optimizer="lm"`` needs (:mod:`binn_lite.levenberg_marquardt`), or a clear error."""
        binn, why = self.binn, None
        if not isinstance(binn.head, Head):
            why = f"a binn_lite Head (this one is a {type(binn.head).__name__})"
        elif binn.global_names:
            why = f"no global parameters (this BINN has {', '.join(binn.global_names)})"
        elif any(p.requires_grad for p in binn.process_model.parameters()):
            why = "a process model without trainable weights"
        elif self.parallel is not None:
            why = "a single process (not torchrun)"
        elif (n := sum(p.numel() for _, p in binn.head.second_order_parameters())) > MAX_WEIGHTS:
            why = (f"a small head: each step solves a dense system over its weights, and this head has {n:,} "
                   f"(at most {MAX_WEIGHTS:,}; a pruned KAN has about 100 that count)")
        if why is not None:
            raise BinnInputError(f"optimizer='lm' trains the head's weights alone and needs {why}; "
                                 "use optimizer='lbfgs'")

    # -- one epoch ---------------------------------------------------------------------------------
    def nonfinite(self, what: str, epoch: int) -> TrainingDiverged:
        return TrainingDiverged(nonfinite_message(what, epoch, self.binn, self.advice_lr, self.settings.dtype,
                                                  self.default_lr))

    def predict(self, sites: _Sites, epoch: int) -> tuple[Tensor, Tensor]:
        """(prediction at the observations, the head's unit values) of ``sites``; a non-finite head
        output or parameter stops training here, before the process model sees it."""
        binn = self.binn
        unit = binn.unit_outputs(sites.x)
        if not bool(torch.isfinite(unit).all()):
            raise self.nonfinite("the head's output", epoch)
        if not bool(torch.isfinite(binn.global_logits).all()):
            raise self.nonfinite("a global parameter", epoch)
        theta = binn.parameters_from_unit(unit)
        return binn.process_model.predict(theta, sites.forcing, sites.coords), unit

    def backward(self, batch: _Sites, epoch: int) -> tuple[Tensor, Tensor, Tensor]:
        """Objective (data loss + penalties) of ``batch`` with its gradients; (objective, data loss,
        the prediction at the observations, detached)."""
        binn, weight = self.binn, self.settings.penalty_weight
        for p in self.trainable:  # every trained tensor, also those an optimiser holds fixed (LM: scale_sp)
            p.grad = None
        pred = self.predict(batch, epoch)[0]
        data_loss = self.objective(pred, batch.y)
        value = data_loss + weight * binn.penalty() if weight else data_loss
        if not bool(torch.isfinite(value)):
            raise self.nonfinite("the training loss", epoch)
        value.backward()
        if self.parallel is not None:  # the gradient of the whole global batch, on every process
            value, data_loss = self.parallel.average_gradients(self.trainable, value, data_loss, batch.y)
        if not _gradients_finite(self.trainable):
            raise self.nonfinite("the gradient", epoch)
        return value, data_loss.detach(), pred.detach()

    def minibatch_epoch(self, epoch: int) -> float:
        """One pass over the training sites; the mean data loss of its minibatches, weighted by size."""
        self.binn.train()
        n, batch_size = len(self.train_idx), self.settings.batch_size
        full_batch = batch_size >= n
        order = None if full_batch else torch.randperm(n, generator=self.generator).to(self.settings.device)
        total, count = 0.0, 0
        for start, stop in _batches(n, batch_size):
            if self.parallel is not None:  # this process's share of the global batch
                rows = torch.arange(start, stop, device=self.settings.device) if full_batch else order[start:stop]
                batch = self.training.take(self.parallel.shard(rows))
            else:
                batch = self.training if full_batch else self.training.take(order[start:stop])
            data_loss = self.backward(batch, epoch)[1]
            self.optimiser.step()
            total += float(data_loss) * (stop - start)
            count += stop - start
        return total / count

    def lbfgs_epoch(self, epoch: int) -> float:
        """One full-batch L-BFGS step (``lbfgs_iterations`` iterations); the data loss of its last
        evaluation."""
        self.binn.train()
        last = [torch.zeros(())]

        batch = self.training
        if self.parallel is not None:
            batch = batch.take(self.parallel.shard(torch.arange(len(self.train_idx), device=self.settings.device)))

        def closure() -> Tensor:
            value, last[0], _ = self.backward(batch, epoch)
            return value

        self.optimiser.step(closure)
        return float(last[0])

    def lm_epoch(self, epoch: int) -> float:
        """One Levenberg-Marquardt step on all training sites; the data loss after it."""
        self.binn.eval()  # deterministic: each trial step is judged on the same function
        sites, weight = self.training, self.settings.penalty_weight
        start = [torch.zeros(()), None]  # the gradient pass's data loss and prediction (the curvature reuses it)
        last = [torch.zeros(())]  # the data loss of the last trial step

        def value_and_gradient() -> Tensor:
            value, start[0], start[1] = self.backward(sites, epoch)
            return value

        def curvature() -> Tensor:
            return gauss_newton_curvature(self.binn, sites.x, sites.forcing, sites.coords, sites.y,
                                          self.objective, weight, pred=start[1])

        def value() -> Tensor:
            with torch.no_grad():
                try:
                    last[0] = self.objective(self.predict(sites, epoch)[0], sites.y)
                except TrainingDiverged:  # a non-finite head output: a step too far, rejected
                    return torch.tensor(math.inf)
                return last[0] + weight * self.binn.penalty() if weight else last[0]

        stepped = self.optimiser.step(value_and_gradient, curvature, value)
        return float(last[0] if stepped else start[0])  # no step: the weights stayed where they were

    def evaluate(self, epoch: int) -> tuple[float, float, float]:
        """Validation loss, pooled NSE (in the unit of the observations) and the share of the head's
        outputs pinned at their bounds (:func:`~binn_lite.divergence.saturated_share`)."""
        val = self.validation
        self.binn.eval()
        with torch.no_grad():
            pred, unit = self.predict(val, epoch)
        if not bool(torch.isfinite(pred[torch.isfinite(val.y)]).all()):
            raise self.nonfinite("the validation prediction", epoch)
        return float(self.objective(pred, val.y)), nse_metric(pred, val.y), saturated_share(unit)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> FitResult:
        """Train epoch by epoch until ``epochs``, patience or ``max_seconds`` runs out; keep the best."""
        from tqdm.auto import tqdm

        s = self.settings
        train_epoch = {"adamw": self.minibatch_epoch, "lbfgs": self.lbfgs_epoch, "lm": self.lm_epoch}[s.optimizer]
        best = _EarlyStopping(s.monitor, s.min_delta, s.patience)
        watch = DivergenceWatch(self.binn, self.advice_lr, s.dtype, self.default_lr)
        rows: list[dict[str, float]] = []
        done, before, stopped_early, finished = 0, 0.0, False, False  # before: seconds of earlier calls
        if s.checkpoint is not None and Path(s.checkpoint).exists():
            done, rows, before, finished, stopped_early = resume.restore_state(s.checkpoint, self, best, watch)
        main = self.parallel is None or self.parallel.is_main
        label = {"adamw": "fit", "lbfgs": "fit (L-BFGS)", "lm": "fit (LM)"}[s.optimizer]
        bar = tqdm(range(done + 1, s.epochs + 1), desc=label, unit="epoch", disable=not (s.progress and main),
                   leave=True, initial=done, total=s.epochs)
        try:
            for epoch in [] if finished else bar:
                train_loss = train_epoch(epoch)
                val_loss, val_nse, saturated = self.evaluate(epoch)
                elapsed = time.perf_counter() - self.start_time
                rows.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_nse": val_nse,
                             "time": before + elapsed})
                watch.update(epoch, train_loss, val_nse, saturated)
                best.update(epoch, val_loss, val_nse, self.binn)
                bar.set_postfix(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}", val_nse=f"{val_nse:.4f}",
                                best=best.epoch, refresh=False)
                out_of_time = s.max_seconds is not None and elapsed > s.max_seconds
                converged = getattr(self.optimiser, "converged", False)  # LM: no step lowers the loss
                stop = best.out_of_patience or out_of_time or converged
                stopped_early = stop and epoch < s.epochs
                if s.checkpoint is not None and main and (stop or epoch == s.epochs or epoch % s.checkpoint_every == 0):
                    # a run out of time is not finished: calling fit again continues it
                    resume.save_state(s.checkpoint, self, epoch, rows, best, watch, before + elapsed,
                                      finished=best.out_of_patience or converged or epoch == s.epochs,
                                      stopped_early=stopped_early)
                if stop:
                    break
        finally:
            bar.close()
        return self.finish(rows, best, stopped_early)

    def finish(self, rows: list[dict[str, float]], best: _EarlyStopping, stopped_early: bool) -> FitResult:
        """Restore the best weights (or keep the last with ``restore_best=False``) and sum up."""
        if self.settings.restore_best:
            self.binn.load_state_dict(best.state)
            epoch, val_nse, val_loss = best.epoch, best.val_nse, best.val_loss
        else:
            last = rows[-1]
            epoch, val_nse, val_loss = int(last["epoch"]), last["val_nse"], last["val_loss"]
        self.binn.eval()
        return FitResult(history=pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)), best_epoch=epoch,
                         best_val_nse=val_nse, train_idx=self.train_idx, val_idx=self.val_idx,
                         stopped_early=stopped_early, seconds=time.perf_counter() - self.start_time,
                         best_val_loss=val_loss, monitor=self.settings.monitor)
