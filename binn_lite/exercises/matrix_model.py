"""Checkers for tutorial 01 (the CLM5 matrix model).

Every checker computes the right answer itself from the objects it is given, prints one line of
feedback and returns ``True`` / ``False`` (or ``None`` while the answer is still ``...``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ..clm5 import (CLM5, CLM5_PARAMETERS, DAYS_PER_YEAR, DZ, MOST_INFLUENTIAL, POOLS, ZISOI, Forcing,
                    decomposition_rates, heterotrophic_respiration)
from ._feedback import correct, name_and_value, number, unanswered, wrong

__all__ = ["check_som3_turnover", "check_input_equals_respiration", "check_half_input_depth",
           "check_soc_at_1m"]


def _one_site(params, forcing: Forcing) -> tuple[torch.Tensor, Forcing]:
    if len(forcing) != 1:
        raise ValueError(f"give the forcing of one site (e.g. forcing[[0]]); got {len(forcing)} sites")
    params = torch.as_tensor(params, dtype=torch.float64).reshape(-1, len(CLM5_PARAMETERS))
    if params.shape[0] != 1:
        raise ValueError(f"give the parameters of one site ([21] or [1, 21]); got {params.shape[0]} rows")
    return params, forcing.to(dtype=torch.float64)


def _close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * abs(b)


# ---------------------------------------------------------------------------------------------
def som3_turnover_years(params, forcing: Forcing, layer: int) -> float:
    """Effective SOM 3 turnover time (years) in ``layer``: ``1 / (365 (xi K)_som3)``."""
    params, forcing = _one_site(params, forcing)
    rate = decomposition_rates(params, forcing)[0, layer, POOLS.index("som3")]  # day-1
    return float(1.0 / (DAYS_PER_YEAR * rate))


def check_som3_turnover(answer, params, forcing: Forcing, layer: int) -> bool | None:
    """Exercise 1 (★☆☆): the turnover time (years) of SOM 3 in ``layer`` of one site.

    Right answer: ``1 / (365 k_som3 xi)`` with the 12-month mean scalars, i.e. one over the
    effective rate of :func:`~binn_lite.clm5.decomposition_rates` (day-1) in years. 1 % tolerance.
    """
    if unanswered(answer):
        return None
    value = number(answer, "the turnover time")
    if value is None:
        return False
    truth = som3_turnover_years(params, forcing, layer)
    p = CLM5_PARAMETERS.as_dict(torch.as_tensor(params, dtype=torch.float64).reshape(-1, len(CLM5_PARAMETERS)))
    tau_s3 = float(p["tau_s3"][0])
    if _close(value, truth, 0.01):
        return correct(f"SOM 3 turns over in about {truth:,.0f} years there, {truth / tau_s3:.1f} times its base "
                       f"turnover time tau_s3 = {tau_s3:.0f} yr: cold, dry or deep soil slows decomposition.")
    if _close(value, tau_s3, 0.01):
        return wrong("that is the base turnover time tau_s3; the environmental scalars xi (temperature, water, "
                     "oxygen, depth) slow decomposition down: use decomposition_rates(params, forcing).")
    if _close(value, truth * DAYS_PER_YEAR, 0.01):
        return wrong("that looks like days; the question asks for years (divide by 365).")
    if _close(value, 1.0 / truth, 0.01) or _close(value, 1.0 / (truth * DAYS_PER_YEAR), 0.01):
        return wrong("that is a rate; the turnover time is one over the rate.")
    return wrong(f"expected a turnover time for layer {layer} (index into the 20 layers, 0 = top) of pool "
                 f"'som3' (index {POOLS.index('som3')} of POOLS); decomposition_rates gives [site, layer, pool] "
                 "in day-1.")


# ---------------------------------------------------------------------------------------------
def annual_input_and_respiration(params, forcing: Forcing, model: CLM5 | None = None) -> tuple[float, float]:
    """Total input and total heterotrophic respiration at steady state (gC m-2 yr-1) of one site."""
    params, forcing = _one_site(params, forcing)
    model = model or CLM5()
    with torch.no_grad():
        pools = model.steady_state(params, forcing)
        respiration = heterotrophic_respiration(params, forcing, pools)  # [1, 20] gC m-3 day-1
    total_input = float(forcing.litter_input.sum())  # 12 monthly amounts, gC m-2
    total_respiration = float((respiration[0] * DZ).sum() * DAYS_PER_YEAR)
    return total_input, total_respiration


def check_input_equals_respiration(answer, params, forcing: Forcing) -> bool | None:
    """Exercise 2 (★★☆): ``(total input, total respiration)`` in gC m-2 yr-1 at steady state.

    The input is the sum of the 12 monthly litter and CWD inputs; the respiration is
    :func:`~binn_lite.clm5.heterotrophic_respiration` (gC m-3 day-1) times the layer thickness
    ``DZ`` (m), summed over layers, times 365. Both within 1 % of the right values.
    """
    if unanswered(answer):
        return None
    try:
        given_input, given_resp = (float(torch.as_tensor(a).reshape(()).item()) for a in answer)
    except (TypeError, ValueError, RuntimeError):
        return wrong("give a pair of two numbers: (total input, total respiration), both in gC m-2 yr-1.")
    truth_input, truth_resp = annual_input_and_respiration(params, forcing)
    problems = []
    if not _close(given_input, truth_input, 0.01):
        if _close(given_input, truth_input / DAYS_PER_YEAR, 0.01):
            problems.append("your input is per day; the litter_input holds 12 monthly amounts, their sum is per year")
        elif _close(given_input, truth_input / 12, 0.01):
            problems.append("your input is a monthly mean; sum the 12 months for the annual input")
        else:
            problems.append("the input: sum forcing.litter_input over months and the four input pools (gC m-2 yr-1)")
    if not _close(given_resp, truth_resp, 0.01):
        if _close(given_resp, truth_resp / DAYS_PER_YEAR, 0.01):
            problems.append("your respiration is per day; multiply by 365")
        else:
            problems.append("the respiration: heterotrophic_respiration(...) is gC m-3 day-1 per layer; "
                            "multiply by the layer thickness DZ (m), sum the layers and multiply by 365")
    if problems:
        return wrong("; ".join(problems) + ".")
    return correct(f"{truth_input:,.1f} gC m-2 yr-1 go in and {truth_resp:,.1f} gC m-2 yr-1 are respired: at "
                   "steady state every gram of litter carbon eventually leaves as CO2.")


# ---------------------------------------------------------------------------------------------
def half_input_depth(beta: float) -> float:
    """Depth (m) above which half the input enters (Jackson profile over the 8.6 m column).

    The cumulative fraction above depth z is ``(1 - beta^(100 z)) / (1 - beta^860)``; setting it to
    1/2 gives ``z = ln(1 - (1 - beta^860) / 2) / (100 ln beta)``.
    """
    if not 0 < beta < 1:
        raise ValueError(f"beta must be in (0, 1); got {beta}")
    bottom = float(ZISOI[-1]) * 100.0
    return math.log(1 - 0.5 * (1 - beta ** bottom)) / (100.0 * math.log(beta))


def check_half_input_depth(answer, beta: float) -> bool | None:
    """Exercise 3 (★★☆): the depth (m) above which half of the litter input enters for ``beta``.

    Accepted within 1 cm of the exact value :func:`half_input_depth` (interpolating the cumulative
    input profile between layer bottoms is close enough).
    """
    if unanswered(answer):
        return None
    value = number(answer, "the depth")
    if value is None:
        return False
    truth = half_input_depth(beta)
    if abs(value - truth) <= 0.01:
        return correct(f"half of the input enters above {truth:.3f} m for beta = {beta}; the larger beta, "
                       "the deeper the roots put their carbon.")
    if abs(value / 100.0 - truth) <= 0.01:
        return wrong("that looks like centimetres; give the depth in metres.")
    if any(abs(value - float(z)) < 1e-6 for z in ZISOI):
        return wrong("that is a layer bottom; the half-way point lies inside the layer: interpolate the "
                     "cumulative fraction linearly between layer bottoms, or solve "
                     "(1 - beta^(100 z)) / (1 - beta^860) = 0.5 for z.")
    return wrong("compute the cumulative fraction of the input above each layer bottom (input_profile gives "
                 "the fraction per layer) and find where it crosses 0.5; z in metres.")


# ---------------------------------------------------------------------------------------------
def soc_change_at_depth(params, forcing: Forcing, candidates: Sequence[str] = MOST_INFLUENTIAL,
                        step: float = 0.1, depth: float = 1.0, model: CLM5 | None = None) -> dict[str, float]:
    """Relative change of SOC at ``depth`` (m) when each candidate's unit value rises by ``step``."""
    params, forcing = _one_site(params, forcing)
    model = model or CLM5()
    unit = CLM5_PARAMETERS.to_unit(params)
    rows = [unit[0]]
    for name in candidates:
        u = unit[0].clone()
        column = CLM5_PARAMETERS.index(name)
        u[column] = min(float(u[column]) + step, 1.0)
        rows.append(u)
    physical = CLM5_PARAMETERS.to_physical(torch.stack(rows))
    many = forcing[[0] * len(rows)]
    with torch.no_grad():
        soc = model.observe(model(physical, many), torch.full((len(rows), 1), depth, dtype=torch.float64))[:, 0]
    return {name: float(soc[k + 1] / soc[0] - 1) for k, name in enumerate(candidates)}


def check_soc_at_1m(answer, params, forcing: Forcing, candidates: Sequence[str] = MOST_INFLUENTIAL,
                    step: float = 0.1) -> bool | None:
    """Exercise 4 (★★★): which candidate, raised by ``step`` in unit value, raises SOC at 1 m most,
    and by how much.

    ``answer`` is a pair ``(name, change in %)``; the change is right within 0.5 percentage points
    (or 5 % of it). The checker runs the model for every candidate. A wrong name is answered
    without any candidate's effect, so guessing names teaches nothing.
    """
    if unanswered(answer):
        return None
    pair = name_and_value(answer, "parameter name", "change of SOC at 1 m in %", "('tau_cwd', 12.3)")
    if pair is None:
        return False
    name, percent = pair
    if name not in candidates:
        return wrong(f"{name!r} is not one of the candidates {list(candidates)}.")
    changes = {n: 100 * c for n, c in soc_change_at_depth(params, forcing, candidates, step).items()}  # %
    best = max(changes, key=changes.get)
    close = lambda a, b: abs(a - b) <= max(0.5, 0.05 * abs(b))  # noqa: E731
    if name != best:
        if close(percent, changes[name]):
            return wrong(f"that is the right change for {name}, but another candidate raises SOC at 1 m more: "
                         "compute all four and compare.")
        return wrong(f"{name} is not the one that raises SOC at 1 m the most. For each candidate: raise its unit "
                     "value by 0.1 (CLM5_PARAMETERS.to_unit / to_physical), run the model, read SOC at 1 m "
                     "(model.observe) and compare with the unchanged profile.")
    if close(percent, changes[best]):
        summary = ", ".join(f"{n} {c:+.1f} %" for n, c in sorted(changes.items(), key=lambda kv: -kv[1]))
        return correct(f"SOC at 1 m changes by {summary}.")
    if close(100 * percent, changes[best]):
        return wrong("right parameter; that change looks like a fraction: give it in per cent (x 100).")
    return wrong(f"right parameter, but not the right change: compute 100 (SOC_after / SOC_before - 1) at 1 m, "
                 "with the unit value raised by 0.1 (capped at 1).")
