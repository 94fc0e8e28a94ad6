"""Checkers for tutorial 06 (uncertainty and projections).

Every checker recomputes the right answer from the objects it is given (an interval and the
observations, predictions on the training sites, a projection), so nothing depends on the
randomness of training: whatever the learner's run produced is what the answer is checked
against. Each prints one line of feedback and returns ``True`` / ``False`` (``None`` while the
answer is still ``...``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..clm5 import DZ, ZISOI
from ..errors import BinnInputError
from ..projection import Projection, layer_thickness_above
from ..uncertainty import Samples, noise_sd
from ._feedback import correct, number, unanswered, wrong

__all__ = ["interval_coverage", "log_noise_sd", "stock_change_by_hand",
           "check_coverage", "check_noise_sd", "check_stock_change"]


def _array(values: Any, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().to(torch.float64).numpy()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise BinnInputError(f"{what} must be numbers (a tensor or array), got {type(values).__name__}") from None


def _same_shape(**arrays: Any) -> list[np.ndarray]:
    values = [_array(v, name) for name, v in arrays.items()]
    shapes = {name: v.shape for name, v in zip(arrays, values)}
    if len(set(shapes.values())) != 1:
        raise BinnInputError(f"the arrays must have the same shape; got {shapes}")
    return values


# ---------------------------------------------------------------------------------------------
# Exercise 1 (★☆☆): coverage of an interval
# ---------------------------------------------------------------------------------------------
def interval_coverage(lower: Any, upper: Any, observed: Any) -> float:
    """Share of the finite observations with ``lower <= observed <= upper``."""
    low, high, y = _same_shape(lower=lower, upper=upper, observed=observed)
    finite = np.isfinite(y)
    if not finite.any():
        raise BinnInputError("observed has no finite value")
    return float(((y >= low) & (y <= high))[finite].mean())


def check_coverage(answer: Any, lower: Any, upper: Any, observed: Any) -> bool | None:
    """Exercise 1 (★☆☆): the share of observations inside their interval (a fraction; tolerance 0.001)."""
    if unanswered(answer):
        return None
    value = number(answer, "the coverage", nan_hint=" -- leave out the NaN padding (np.isfinite)")
    if value is None:
        return False
    right = interval_coverage(lower, upper, observed)
    if abs(value - right) <= 1e-3:
        return correct(f"{right:.1%} of the held-out observations lie inside their 90 % interval "
                       f"({'close to' if abs(right - 0.9) < 0.05 else 'far from'} the nominal 90 %).")
    if abs(value / 100 - right) <= 1e-3:
        return wrong("give the coverage as a fraction (e.g. 0.9), not in per cent.")
    if abs(value - (1 - right)) <= 1e-3:
        return wrong("that is the share OUTSIDE the intervals; coverage counts the observations inside.")
    y = _array(observed, "observed")
    inside = ((y >= _array(lower, "lower")) & (y <= _array(upper, "upper"))).sum()
    if abs(value - inside / y.size) <= 1e-3:
        return wrong("you divided by every entry, NaN padding included; divide by the number of finite "
                     "observations (np.isfinite(observed).sum()).")
    return wrong("count the observations with lower <= observed <= upper and divide by the number of finite "
                 "observations.")


# ---------------------------------------------------------------------------------------------
# Exercise 2 (★★☆): the noise the log loss implies
# ---------------------------------------------------------------------------------------------
def log_noise_sd(predicted: Any, observed: Any) -> float:
    """``sqrt(mean (log observed - log predicted)^2)`` over the finite pairs (natural log)."""
    p, y = _same_shape(predicted=predicted, observed=observed)
    finite = np.isfinite(p) & np.isfinite(y)
    if not finite.any():
        raise BinnInputError("no finite pair of prediction and observation")
    return float(np.sqrt(np.mean((np.log(y[finite]) - np.log(p[finite])) ** 2)))


def _printed(value: float, quantity: float, right: float) -> bool:
    """``value`` is ``quantity`` as the notebook printed it (3 decimals) or in full, and not the right answer."""
    return abs(value - quantity) <= 5e-4 + 1e-12 and abs(value - quantity) < abs(value - right)


def check_noise_sd(answer: Any, predicted: Any, observed: Any, dropout_samples: Samples | None = None) -> bool | None:
    """Exercise 2 (★★☆): sigma of the multiplicative noise from training residuals (relative tolerance 1e-4).

    ``dropout_samples``: optional, the MC-dropout samples of the same sites (the notebook's
    ``dropout_train``). With them the checker recognises the sigma section 2 printed from those
    samples (``noise_sd``, to the 3 decimals printed or in full) and says why it is not the
    quantity the exercise asks for.
    """
    if unanswered(answer):
        return None
    value = number(answer, "sigma", nan_hint=" -- keep only the finite pairs (np.isfinite) before averaging")
    if value is None:
        return False
    right = log_noise_sd(predicted, observed)
    close = lambda x: abs(value - x) <= 1e-4 * abs(x)  # noqa: E731
    if close(right):
        return correct(f"sigma = {right:.4f}: log SOC scatters by about {right:.0%} around the BINN "
                       "(the example was made with 10 % noise).")
    if dropout_samples is not None and _printed(value, noise_sd(dropout_samples, observed), right):
        return wrong(f"that is the sigma printed in section 2, noise_sd of the MC-dropout samples: its residuals are "
                     f"taken from the mean of log SOC over {dropout_samples.n_samples} passes with dropout switched "
                     "ON. The exercise asks for the residuals of the ordinary eval-mode prediction (dropout off, one "
                     "deterministic pass) in predicted_train -- another model output, so another sigma. Compute it "
                     "from predicted_train and the observations.")
    if abs(value - right) <= 5e-4:
        return wrong("close, but rounded: give the value you computed itself (e.g. .item() of your result), not a "
                     "copy typed with a few decimals.")
    if close(right**2):
        return wrong("that is the mean squared residual, a variance; sigma is its square root.")
    if close(right / math.log(10)):
        return wrong("use the natural logarithm (np.log or torch.log), not log10: the noise is e^eps.")
    p, y = _same_shape(predicted=predicted, observed=observed)
    finite = np.isfinite(p) & np.isfinite(y)
    if close(float(np.sqrt(np.mean((y[finite] / p[finite] - 1) ** 2)))):
        return wrong("that is the RMS of the relative error (y / f - 1); the log loss works with "
                     "log y - log f.")
    return wrong("take the residuals log(observed) - log(predicted) on the finite entries, square, average, "
                 "and take the square root.")


# ---------------------------------------------------------------------------------------------
# Exercise 3 (★★★): a stock change by hand
# ---------------------------------------------------------------------------------------------
def stock_change_by_hand(projection: Projection, site: int = 0, depth: float = 1.0) -> float:
    """Change of the SOC stock 0-``depth`` m (gC m-2) of ``site`` between the first and last year."""
    if not isinstance(projection, Projection) or projection.soc.ndim != 3:
        raise BinnInputError("projection must be the Projection of one parameter set (soc [n_sites, T + 1, 20])")
    soc = projection.soc[site]
    thickness = layer_thickness_above(depth).to(soc)
    return float(((soc[-1] - soc[0]) * thickness).sum())


def check_stock_change(answer: Any, projection: Projection, site: int = 0, depth: float = 1.0) -> bool | None:
    """Exercise 3 (★★★): the change of the 0-``depth`` m SOC stock at one site after the run (gC m-2)."""
    if unanswered(answer):
        return None
    value = number(answer, "the stock change")
    if value is None:
        return False
    right = stock_change_by_hand(projection, site, depth)
    close = lambda x: abs(value - x) <= 1e-6 * abs(x) + 1e-9  # noqa: E731
    if close(right):
        stock = float((projection.soc[site, 0] * layer_thickness_above(depth).to(projection.soc)).sum())
        return correct(f"{right:.1f} gC m-2 ({right / stock:+.2%} of the {stock / 1000:.1f} kgC m-2 in the top "
                       f"{depth:g} m) after {float(projection.years[-1]):g} years.")
    soc = projection.soc[site]
    change = soc[-1] - soc[0]
    if close(-right):
        return wrong("check the sign: the change is the last year minus the first.")
    whole_layers = torch.where(ZISOI.to(soc) <= depth + 1e-9, DZ.to(soc), torch.zeros_like(soc[0]))
    if close(float((change * whole_layers).sum())):
        return wrong(f"you counted only whole layers above {depth:g} m; the layer that straddles {depth:g} m "
                     "counts with the part of it above that depth: min(dz, depth - top), top = its upper edge.")
    if close(float((change * DZ.to(soc)).sum())):
        return wrong(f"that is the whole profile (8.6 m); count only the soil above {depth:g} m.")
    if close(float(change[ZISOI.to(soc) <= depth + 1e-9].sum())) or close(float(change.sum())):
        return wrong("SOC is a density (gC m-3): multiply each layer by its thickness (m) before summing.")
    return wrong("stock = sum over layers of SOC (gC m-3) times the thickness of the layer above the depth (m); "
                 "take the stock in the last year minus the stock in the first.")
