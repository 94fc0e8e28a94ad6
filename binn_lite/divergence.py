"""How :func:`binn_lite.train.fit` tells a run that ran away, and what it says about it.

A BINN's training can diverge in two ways. *Loudly*: the loss, a gradient, the head's output or
a prediction turns NaN or infinite. *Quietly*: a step too large pushes the head's last layer
so far that its outputs sit at the bounds of their ranges (sigmoid or hard sigmoid saturated),
where the gradient vanishes; the loss then stays at a huge value epoch after epoch, and early
stopping would hand back parameters pinned at their bounds. :class:`DivergenceWatch` watches
every epoch for both, and :func:`fit <binn_lite.train.fit>` stops with
:class:`~binn_lite.errors.TrainingDiverged` (a ``RuntimeError``) naming the symptom, the likely
causes and what to change. The rules, checked after each epoch:

1. anything NaN or infinite: at once (:func:`nonfinite_message`);
2. the training loss above :data:`LOSS_EXPLOSION_FACTOR` times its first epoch's value and above
   :data:`LOSS_EXPLOSION_FLOOR`: at once;
3. the validation NSE below :data:`NSE_FLOOR` for :data:`DIVERGED_EPOCHS` epochs in a row;
4. at least :data:`SATURATED_SHARE` of the head's outputs on the validation sites within
   :data:`SATURATION_TOLERANCE` of 0 or 1 for :data:`DIVERGED_EPOCHS` epochs in a row, while the
   validation NSE stays below 0 (worse than predicting the mean) or stops changing (by less than
   :data:`FROZEN_NSE_CHANGE`) below :data:`STUCK_NSE` (no gradient gets through the saturated
   outputs, training is stuck). A parameter that truly sits at a bound of its range in a model
   that fits is not a divergence.

The thresholds are far from anything an ordinary run reaches (the tutorials, the quickstart and
:func:`~binn_lite.heads.sciren.fit_and_prune` run without coming near them); when ``fit`` raises,
the BINN gets back the weights it had before, so the same BINN can be trained again with the
suggested change.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import TrainingDiverged

__all__ = ["LOSS_EXPLOSION_FACTOR", "LOSS_EXPLOSION_FLOOR", "STUCK_NSE", "NSE_FLOOR", "SATURATION_TOLERANCE", "SATURATED_SHARE", "FROZEN_NSE_CHANGE",
           "DIVERGED_EPOCHS",
           "DivergenceWatch", "saturated_share", "nonfinite_message"]

#: the training loss has exploded when it exceeds this multiple of its first epoch's value ...
LOSS_EXPLOSION_FACTOR = 1e3
#: ... and this absolute value (a log-space error of 1: a factor e), so a run that starts with a tiny
#: loss (warm start, noise-free data) is not stopped by an ordinary bump
LOSS_EXPLOSION_FLOOR = 1.0
#: a validation NSE below this is "far below zero": predictions off by ~10 standard deviations
NSE_FLOOR = -100.0
#: a unit value within this distance of 0 or 1 counts as saturated (pinned at a bound)
SATURATION_TOLERANCE = 1e-4
#: share of (validation site, learned parameter) unit values that must be saturated
SATURATED_SHARE = 0.9
#: a validation NSE that moves less than this over :data:`DIVERGED_EPOCHS` epochs has stopped changing
FROZEN_NSE_CHANGE = 1e-6
#: ... which counts as stuck only below this NSE: a converged fit whose parameters truly sit at a
#: bound keeps a good, constant NSE and must not be stopped (a head pinned by lr=10 on noise-free
#: data froze at NSE 0.6, where the same BINN reaches 0.99)
STUCK_NSE = 0.9
#: epochs in a row a quiet symptom (rules 3 and 4) must last; fewer than ``fit``'s default patience
#: (30), so a stuck run is caught before early stopping would end it quietly
DIVERGED_EPOCHS = 10


def saturated_share(unit: Tensor) -> float:
    """Share of the unit values ``[batch, n_learned]`` within :data:`SATURATION_TOLERANCE` of 0 or 1
    (0 when nothing is learned)."""
    if unit.numel() == 0:
        return 0.0
    unit = unit.detach()
    pinned = (unit <= SATURATION_TOLERANCE) | (unit >= 1.0 - SATURATION_TOLERANCE)
    return float(pinned.float().mean())


def likely_causes(binn, lr: float | None, dtype: torch.dtype, default_lr: float | None = None) -> list[str]:
    """Generic causes of a diverged run, most likely first, plus the process model's own hints.

    ``lr`` is the learning rate used (None: an optimiser without one, Levenberg-Marquardt), ``default_lr``
    the optimiser's default (named when ``lr`` is larger).
    """
    outside = []
    for name in binn.fixed_names:
        p = binn.table[name]
        value = float(binn.fixed_values[binn.table.index(name)])
        if not p.low <= value <= p.high:
            outside.append(f"{name}={value:g} (range {p.low:g}-{p.high:g})")
    learning_rate = []
    if lr is not None:
        default = f" (fit's default is {default_lr:g})" if default_lr is not None and lr > default_lr else ""
        learning_rate = [f"the learning rate is too high (lr={lr:g}); try lr={lr / 10:g} or lower{default}"]
    causes = [*learning_rate,
              ("fixed parameter values outside their ranges: " + ", ".join(outside)) if outside
              else "fixed parameter values far from their ranges (all are inside here)",
              *getattr(binn.process_model, "nonfinite_hints", ())]
    if dtype == torch.float32:
        causes.append("float32 overflow or round-off of a huge prediction; try dtype=torch.float64")
    causes.append("a forcing, observations or covariates with extreme values or in the wrong units: check "
                  "the forcing and the observations")
    return causes


def _numbered(causes: list[str]) -> str:
    return "; ".join(f"({i + 1}) {c}" for i, c in enumerate(causes))


def nonfinite_message(what: str, epoch: int, binn, lr: float | None, dtype: torch.dtype,
                      default_lr: float | None = None) -> str:
    """Why ``what`` may have become NaN or infinite at ``epoch``: generic causes and the model's hints."""
    causes = likely_causes(binn, lr, dtype, default_lr)
    causes.insert(-1, "huge predictions where nothing is observed (e.g. far from every observation): their "
                      "gradient can overflow even when the loss is finite")
    return (f"{what} became NaN or infinite at epoch {epoch}. Likely causes: {_numbered(causes)}. "
            "The BINN keeps the weights it had before fit.")


class DivergenceWatch:
    """Rules 2 to 4 of the module docstring, one epoch at a time (:meth:`update` raises)."""

    def __init__(self, binn, lr: float | None, dtype: torch.dtype, default_lr: float | None = None) -> None:
        self.binn, self.lr, self.dtype, self.default_lr = binn, lr, dtype, default_lr
        self.first_loss = math.nan
        self.far_off = 0                      # epochs in a row with the NSE below NSE_FLOOR
        self.saturated_nse: list[float] = []  # validation NSE of the saturated epochs in a row

    def update(self, epoch: int, train_loss: float, val_nse: float, saturated: float) -> None:
        """Record an epoch (its training loss, validation NSE and :func:`saturated_share`);
        raise :class:`TrainingDiverged` when a rule fires."""
        if epoch == 1:
            self.first_loss = train_loss
        if train_loss > max(LOSS_EXPLOSION_FACTOR * self.first_loss, LOSS_EXPLOSION_FLOOR):
            self.fail(epoch, f"the training loss grew from {self.first_loss:.4g} (epoch 1) to {train_loss:.4g}, "
                             f"more than {LOSS_EXPLOSION_FACTOR:g} times")
        self.far_off = self.far_off + 1 if val_nse < NSE_FLOOR else 0
        self.saturated_nse = self.saturated_nse + [val_nse] if saturated >= SATURATED_SHARE else []
        window = self.saturated_nse[-DIVERGED_EPOCHS:]
        frozen = max(window, default=0.0) - min(window, default=0.0) < FROZEN_NSE_CHANGE
        if len(window) == DIVERGED_EPOCHS and (max(window) < 0 or (frozen and max(window) < STUCK_NSE)):
            how = "stayed below 0" if max(window) < 0 else "stopped changing"
            self.fail(epoch, f"for {len(window)} epochs in a row {saturated:.0%} of the head's outputs on the "
                             f"validation sites sat at the bounds of their ranges, where no gradient gets through, "
                             f"and the validation NSE {how} (now {val_nse:.3g})")
        if self.far_off >= DIVERGED_EPOCHS:
            self.fail(epoch, f"for {self.far_off} epochs in a row the validation NSE was below {NSE_FLOOR:g} "
                             f"(now {val_nse:.3g}): the predictions are far off the observations")

    def fail(self, epoch: int, symptom: str) -> None:
        causes = likely_causes(self.binn, self.lr, self.dtype, self.default_lr)
        raise TrainingDiverged(f"training diverged, stopped at epoch {epoch}: {symptom}. Likely causes: "
                               f"{_numbered(causes)}. The BINN keeps the weights it had before fit.")
