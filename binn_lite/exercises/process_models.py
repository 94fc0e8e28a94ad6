"""Checkers for tutorial 05 (your own process model).

The exercises build a *one-pool* soil-carbon model in the pattern of
:class:`~binn_lite.two_pool.TwoPoolSoilCarbon`: per CLM5 layer j (node depth z_j, thickness dz_j)

    I_j  = I f_j / dz_j,  f_j ~ exp(-z_j / input_depth) dz_j (normalised to sum 1)   [gC m-3 yr-1]
    xi_j = 12-month mean of 2^((T - 298.15) / 10)  *  exp(-z_j / efolding)            [-]
    SOC_j = I_j tau / xi_j   (steady state of dC/dt = I_j - C xi_j / tau)                 [gC m-3]

with ``I`` the annual litter input (sum of the 12 monthly amounts of ``forcing.litter_input``,
gC m-2 yr-1). At steady state the two-pool model is exactly this model with
``tau = tau_fast + humification * tau_slow``: that is how exercise 3 can check a one-pool BINN on
data made by the two-pool model.

Every checker computes the right answer itself from the objects it is given, prints one line of
feedback and returns ``True`` / ``False`` (or ``None`` while the answer is still ``...``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..clm5 import DZ, ZSOI
from ..parameters import Parameter, ParameterTable
from ..process import ProcessModel, interpolate
from ._feedback import correct, unanswered, wrong

__all__ = ["check_one_pool_table", "check_one_pool_model", "check_one_pool_recovery"]

#: what exercise 1 asks for: name -> (low, high, unit); defaults are the middle of each range
_ONE_POOL_SPEC = {
    "tau": (5.0, 500.0, "yr"),
    "efolding": (0.1, 1.0, "m"),
    "input_depth": (0.05, 1.0, "m"),
}
_UNIT_SPELLINGS = {"yr": {"yr", "year", "years", "a"}, "m": {"m", "metre", "meter", "metres", "meters"}}


class _OnePoolReference(ProcessModel):
    """The model the exercises ask for (see the module docstring); forcing: a CLM5 Forcing."""

    parameter_table = ParameterTable([
        Parameter("tau", 5.0, 500.0, "yr", "turnover time at 25 C", 252.5),
        Parameter("efolding", 0.1, 1.0, "m", "depth e-folding of decomposition", 0.55),
        Parameter("input_depth", 0.05, 1.0, "m", "e-folding depth of the litter input", 0.525),
    ])

    def forward(self, params: torch.Tensor, forcing: Any) -> torch.Tensor:
        p = self.parameter_table.as_dict(params)
        forcing = forcing.to(params.device, params.dtype)
        z, dz = ZSOI.to(params), DZ.to(params)
        annual_input = forcing.litter_input.sum(dim=(1, 2))  # gC m-2 yr-1
        log_weight = -z / p["input_depth"][:, None] + torch.log(dz)
        log_share = log_weight - torch.logsumexp(log_weight, dim=1, keepdim=True)
        log_layer_input = torch.log(annual_input)[:, None] + log_share - torch.log(dz)  # log gC m-3 yr-1
        temperature_response = (2.0 ** ((forcing.soil_temperature - 298.15) / 10)).mean(dim=1)
        log_xi = torch.log(temperature_response) - z / p["efolding"][:, None]
        return p["tau"][:, None] * torch.exp(log_layer_input - log_xi)  # gC m-3

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return interpolate(prediction, ZSOI, coords)


def effective_turnover(truth_params: pd.DataFrame) -> pd.Series:
    """True one-pool ``tau`` (yr) of each site: ``tau_fast + humification * tau_slow`` of two-pool data.

    A truth table that already has a ``tau`` column is returned as it is.
    """
    if "tau" in truth_params:
        return truth_params["tau"].astype(float)
    needed = ["tau_fast", "humification", "tau_slow"]
    missing = [c for c in needed if c not in truth_params]
    if missing:
        raise ValueError(f"the truth has no 'tau' and no two-pool columns {', '.join(missing)}")
    return (truth_params["tau_fast"] + truth_params["humification"] * truth_params["tau_slow"]).rename("tau")


# ---------------------------------------------------------------------------------------------
def _table_problems(table: Any, what: str) -> list[str]:
    """What is wrong with ``table`` compared with the exercise's specification (empty: nothing)."""
    if isinstance(table, (list, tuple)) and all(isinstance(p, Parameter) for p in table):
        return [f"{what} is a list of Parameters; wrap it: ParameterTable([...])"]
    if not isinstance(table, ParameterTable):
        return [f"{what} should be a binn_lite.parameters.ParameterTable; got {type(table).__name__}"]
    expected = tuple(_ONE_POOL_SPEC)
    if set(table.names) != set(expected):
        missing = [n for n in expected if n not in table]
        extra = [n for n in table.names if n not in _ONE_POOL_SPEC]
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unexpected {', '.join(map(repr, extra))}")
        return [f"{what} should have exactly the parameters {', '.join(map(repr, expected))} ({'; '.join(parts)})"]
    problems = []
    if table.names != expected:
        problems.append(f"put the parameters in the order {', '.join(expected)} (got {', '.join(table.names)})")
    for name, (low, high, unit) in _ONE_POOL_SPEC.items():
        p = table[name]
        if not (math.isclose(p.low, low, rel_tol=1e-9) and math.isclose(p.high, high, rel_tol=1e-9)):
            hint = ""
            if unit == "m" and math.isclose(p.low, 100 * low, rel_tol=1e-9):
                hint = " - that looks like centimetres; the model works in metres"
            elif unit == "yr" and math.isclose(p.low, 365 * low, rel_tol=1e-9):
                hint = " - that looks like days; the model works in years"
            problems.append(f"{name}: range should be {low:g} to {high:g} {unit}, got {p.low:g} to {p.high:g}{hint}")
        if p.unit.strip().lower() not in _UNIT_SPELLINGS[unit]:
            problems.append(f"{name}: unit should be {unit!r}, got {p.unit!r}")
        middle = 0.5 * (low + high)
        if not math.isclose(p.default, middle, rel_tol=1e-6):
            problems.append(f"{name}: default should be the middle of the range, {middle:g}, got {p.default:g}")
        if not p.meaning.strip():
            problems.append(f"{name}: give a one-line meaning")
    return problems


def check_one_pool_table(answer: Any) -> bool | None:
    """Exercise 1 (★☆☆): the ParameterTable of the one-pool model.

    Parameters ``tau`` (5-500 yr), ``efolding`` (0.1-1 m), ``input_depth`` (0.05-1 m), in that
    order, each with a unit, a meaning and the middle of its range as default.
    """
    if unanswered(answer):
        return None
    problems = _table_problems(answer, "the table")
    if problems:
        return wrong("; ".join(problems) + ".")
    return correct("three parameters with ranges and units: the head's outputs in [0, 1] now map to "
                   "5-500 yr, 0.1-1 m and 0.05-1 m.")


# ---------------------------------------------------------------------------------------------
def _test_parameters(table: ParameterTable, n_sites: int, seed: int = 5) -> torch.Tensor:
    """Defaults, random values and both ends of every range: ``[3 n_sites, 3]`` physical, float64."""
    generator = torch.Generator().manual_seed(seed)
    unit = torch.cat([
        torch.full((n_sites, len(table)), 0.5, dtype=torch.float64),
        torch.rand((n_sites, len(table)), generator=generator, dtype=torch.float64),
        torch.tensor([[0.02, 0.98, 0.98], [0.98, 0.02, 0.02]], dtype=torch.float64).repeat(n_sites, 1)[:n_sites],
    ])
    return table.to_physical(unit)


def _magnitude_hint(ratio: float) -> str:
    for factor, why in ((12.0, "the annual input is the SUM of the 12 monthly amounts, not their mean"),
                        (1 / 365.0, "tau is in years and the input per year: no factor 365"),
                        (365.0, "tau is in years and the input per year: no factor 365"),
                        (1 / 12.0, "the annual input is the sum of the 12 monthly amounts (sum over dims 1 and 2)")):
        if math.isclose(ratio, 1 / factor, rel_tol=1e-3):
            return why
    return "check the annual input (sum of forcing.litter_input over months and input pools) and the factor tau"


def check_one_pool_model(answer: Any, forcing: Any) -> bool | None:
    """Exercise 2 (★★☆): a ProcessModel class (or instance) implementing the one-pool model.

    The checker builds the model, calls ``forward`` on ``forcing`` (a CLM5 Forcing of a few sites)
    with default, random and extreme parameters, and compares with its own implementation
    (relative tolerance 1e-4, float64); then ``observe`` at NaN-padded depths, and the gradient
    with respect to every parameter.
    """
    if unanswered(answer):
        return None
    try:
        model = answer() if isinstance(answer, type) else answer
    except Exception as error:  # noqa: BLE001 - any failure becomes a hint
        return wrong(f"creating the model failed: {type(error).__name__}: {error}")
    if not isinstance(model, ProcessModel):
        return wrong(f"the model must subclass binn_lite.process.ProcessModel; got {type(model).__name__}")
    problems = _table_problems(getattr(model, "parameter_table", None), "parameter_table")
    if problems:
        return wrong("; ".join(problems) + ".")
    forcing = forcing.to(dtype=torch.float64)
    n = len(forcing)
    reference = _OnePoolReference()
    params = _test_parameters(model.parameter_table, n)
    many = forcing[torch.arange(len(params)) % n]
    try:
        got = model(params, many)
    except Exception as error:  # noqa: BLE001
        return wrong(f"forward(params, forcing) raised {type(error).__name__}: {error}")
    with torch.no_grad():
        expected = reference(params, many)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return wrong(f"forward should return SOC at the 20 CLM5 nodes, a tensor [batch, 20]; got {shape}")
    got_values = got.detach().double()
    if not bool(torch.isfinite(got_values).all()):
        return wrong("forward returned NaN or inf; check divisions (share.sum, the temperature scalar)")
    if not torch.allclose(got_values, expected, rtol=1e-4, atol=0.0):
        ratio = got_values / expected
        if float(ratio.max() / ratio.min()) < 1 + 1e-4:
            factor = float(ratio.mean())
            return wrong(f"the profile has the right shape but is {factor:.4g} times too large; {_magnitude_hint(factor)}")
        per_site = ratio / ratio[:, :1]
        if float(per_site.max() / per_site.min()) < 1 + 1e-4:
            return wrong("each profile has the right shape, but the size differs from site to site: check tau and "
                         "the temperature scalar 2^((T - 298.15) / 10) averaged over the 12 months (dim 1)")
        return wrong("the depth profile is off: the input share exp(-z / input_depth) dz must be normalised to "
                     "sum 1 over the 20 layers and divided by dz (gC m-3), and the rate falls with depth as "
                     "exp(-z / efolding), so SOC carries exp(+z / efolding)")

    depths = torch.tensor([[0.0, 0.05, 0.3], [0.5, 1.2, float("nan")], [2.0, float("nan"), float("nan")]],
                          dtype=torch.float64)
    depths = depths.repeat(math.ceil(len(params) / 3), 1)[: len(params)]
    try:
        observed = model.observe(expected, depths)
    except Exception as error:  # noqa: BLE001
        return wrong(f"observe(prediction, depths) raised {type(error).__name__}: {error}")
    wanted = interpolate(expected, ZSOI, depths)
    if not isinstance(observed, torch.Tensor) or observed.shape != wanted.shape:
        return wrong("observe should return one value per observation depth, shape [batch, n_obs]")
    if not torch.equal(torch.isnan(observed), torch.isnan(wanted)):
        return wrong("observe must give NaN exactly where the depth is NaN (padding) and a number elsewhere")
    if not torch.allclose(observed.double(), wanted, rtol=1e-4, equal_nan=True):
        return wrong("observe should read SOC at the observed depths, linear between the nodes: "
                     "interpolate(prediction, ZSOI, coords)")

    trial = params[:2].clone().requires_grad_(True)
    try:
        model(trial, many[torch.arange(2)]).sum().backward()
    except Exception as error:  # noqa: BLE001
        return wrong(f"no gradient flows through forward ({type(error).__name__}: {error}); use torch operations only")
    grad = trial.grad
    if grad is None or not bool(torch.isfinite(grad).all()):
        return wrong("no finite gradient reaches the parameters; use torch operations only (no numpy, no .item())")
    dead = [name for name, column in zip(model.parameter_table.names, grad.abs().sum(0)) if float(column) == 0.0]
    if dead:
        return wrong(f"the output does not depend on {', '.join(dead)} (zero gradient)")
    return correct("forward matches the reference at default, random and extreme parameters, observe reads the "
                   "depths with NaN kept, and gradients reach tau, efolding and input_depth.")


# ---------------------------------------------------------------------------------------------
def check_one_pool_recovery(answer: Any, test_data: Any, threshold: float = 0.8) -> bool | None:
    """Exercise 3 (★★★): a BINN with the one-pool model, trained on two-pool data, tested on held-out sites.

    The truth of ``tau`` is the effective turnover time ``tau_fast + humification * tau_slow`` of the
    two-pool sites (:func:`effective_turnover`), of ``efolding`` the two-pool ``efolding``. Both need
    ``R² >= threshold`` on ``test_data``.
    """
    if unanswered(answer):
        return None
    from ..binn import BINN
    from ..metrics import r2

    if not isinstance(answer, BINN):
        return wrong(f"answer with the trained BINN (BINN(head, OnePoolSoilCarbon(), ...)); got {type(answer).__name__}")
    names = answer.process_model.parameter_table.names
    if set(names) != set(_ONE_POOL_SPEC):
        return wrong(f"the BINN's process model has the parameters {', '.join(names)}; build it with your "
                     "one-pool model from exercise 2")
    missing = [n for n in ("tau", "efolding") if n not in answer.learned]
    if missing:
        return wrong(f"the head must learn {' and '.join(missing)} too: learn=['tau', 'efolding']")
    if answer.normalizer is None:
        return wrong("this BINN has not been trained yet: train it with fit(binn, data, train_idx, ...)")
    estimated, _ = answer.predict_dataset(test_data)
    truth = test_data.truth.params.loc[estimated.index]
    scores = {"tau": r2(estimated["tau"], effective_turnover(truth)), "efolding": r2(estimated["efolding"],
                                                                                      truth["efolding"])}
    summary = ", ".join(f"{n} R² = {s:.2f}" for n, s in scores.items())
    if all(s >= threshold for s in scores.values()):
        return correct(f"{summary} on {len(estimated)} held-out sites: a one-pool model recovers the effective "
                       "turnover time tau_fast + humification * tau_slow and the e-folding depth of two-pool data.")
    hints = []
    if "input_depth" in answer.learned:
        hints.append("input_depth and efolding trade off against each other (the profile's shape fixes only "
                     "1/efolding - 1/input_depth); keep input_depth fixed at the value used for the data")
    else:
        fixed = float(answer.fixed_values[answer.table.index("input_depth")])
        if "input_depth" in truth and not np.allclose(fixed, truth["input_depth"].to_numpy(), rtol=1e-6):
            hints.append(f"input_depth is fixed at {fixed:g} m but the data were made with "
                         f"{float(truth['input_depth'].iloc[0]):g} m")
    if not hints:
        hints.append("train longer or with a larger learning rate, and check fit's validation NSE (> 0.9)")
    return wrong(f"{summary}, below {threshold}: " + "; ".join(hints))
