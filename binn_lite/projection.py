"""Projections: what the parameters are for. CLM5 run forward in time under warming and more litter.

A BINN's parameters fit today's SOC; a projection asks what they imply for tomorrow's. From the
steady state of today's forcing, the soil warms and (optionally) receives more litter, and the
CLM5 matrix model (:mod:`binn_lite.clm5`) follows in time:

    dX/dt = f(t) B I - M(t) X,      M(t) = V - A xi(t) K                       (time in days)

The scenario (:class:`Scenario`)
--------------------------------
A linear ramp over ``ramp_years`` (default: the whole run), then constant:

* warming ``Delta T(t) = warming * min(t / ramp_years, 1)`` (K), added to the soil temperature of
  every month and layer;
* litter input times ``f(t) = 1 + litter_change * min(t / ramp_years, 1)`` (e.g. +10 %: 0.1).

CLM5's temperature scalar is ``xi_T = Q10 ** ((T - 298.15) / 10)``, so a uniform warming multiplies
every decomposition rate by ``Q10 ** (Delta T / 10)`` and leaves transport alone:

    M(t) = V + Q10 ** (Delta T(t) / 10) * D_0,      D_0 = -A xi_0 K   (today's decomposition)

:func:`project` builds ``V``, ``D_0`` and ``B I`` once from today's forcing (the steady-state
blocks of :mod:`binn_lite.clm5`) and scales them each step; the tests check that this equals
rebuilding the blocks from a warmed copy of the forcing (:meth:`Scenario.forcing_at`).

What the scenario leaves out: the warming reaches every layer at once and unchanged (no heat
diffusion), frozen layers warm like thawed ones (binn_lite uses one Q10 for both, as the BINN
research code does; CLM5 allows a separate frozen-soil Q10), the active layer does not deepen and
water, oxygen and nitrogen scalars stay at today's values. It isolates what the parameters imply.

Time stepping
-------------
Implicit (backward) Euler with ``dt`` = 1 year (:data:`DT_YEARS`), the rates of the step's end:

    (I / dt + M_n) X_n = X_{n-1} / dt + f_n B I

one block-tridiagonal solve per step (:class:`~binn_lite.blocksolve.BlockTridiagonal`; the matrix
changes every step, so it is factored every step). Implicit Euler is stable for the stiff litter
pools (turnover in days) and its fixed point is exactly the steady state, so a run with constant
forcing stays where it starts. Why 1 year: against steps of 1/24 year, the change of the 0-1 m
stock after 100 years of +2 K at 100 of the example's sites is off by at most 0.9 % (median
0.4 %); 0.5 year halves that and doubles the cost. ``tests/test_projection.py`` also compares a
step change of temperature with the exact solution by the matrix exponential.

Stocks
------
:meth:`Projection.stock` sums SOC (SOM 1 + 2 + 3) times the part of each layer above a depth, so
"0-0.3 m" counts 0.3 m of soil, not whole layers (compare :func:`binn_lite.clm5.soc_stock`).

A pure neural network (:func:`binn_lite.baselines.pure_nn`) maps covariates to today's SOC; it has
no parameters and no dynamics, so it cannot project anything.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from .blocksolve import BlockTridiagonal
from .clm5 import CLM5, CLM5_PARAMETERS, DAYS_PER_YEAR, DZ, N_POOLS, POOL, SOM_POOLS, ZTOP, system_blocks
from .errors import BinnInputError
from .threads import DEFAULT_THREADS, with_num_threads
from .forcing import Forcing

__all__ = ["Scenario", "SCENARIOS", "DT_YEARS", "DEPTHS", "Projection", "project", "true_projection",
           "project_binn", "parameter_tensor", "layer_thickness_above"]

#: the time step of :func:`project` (years); the module docstring says why
DT_YEARS = 1.0
#: the stock intervals reported: name -> lower bound in m (None: the whole 8.6 m profile)
DEPTHS = {"0-0.3 m": 0.3, "0-1 m": 1.0, "whole profile": None}
_SOM = [POOL[name] for name in SOM_POOLS]
_Q10 = CLM5_PARAMETERS.index("q10")


@dataclass(frozen=True)
class Scenario:
    """Linear ramps of soil warming and litter input (see the module docstring).

    Parameters
    ----------
    warming : K added to the soil temperature at the end of the ramp (every month and layer).
    litter_change : relative change of the litter input at the end of the ramp (0.1: +10 %).
    years : length of the run (years).
    ramp_years : length of the ramps (default: ``years``); constant afterwards.
    """

    warming: float = 2.0
    litter_change: float = 0.0
    years: float = 100.0
    ramp_years: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.warming):
            raise BinnInputError(f"warming must be a finite number of kelvin; got {self.warming}")
        if not (math.isfinite(self.litter_change) and self.litter_change > -1):
            raise BinnInputError(f"litter_change must be > -1 (a relative change); got {self.litter_change}")
        if not self.years > 0 or (self.ramp_years is not None and not self.ramp_years > 0):
            raise BinnInputError(f"years and ramp_years must be > 0; got {self.years}, {self.ramp_years}")

    @property
    def name(self) -> str:
        litter = f", litter {self.litter_change:+.0%}" if self.litter_change else ""
        return f"{self.warming:+g} K{litter} over {self.years:g} yr"

    def ramp(self, years: float) -> float:
        """Share of the final change reached after ``years``: ``min(t / ramp_years, 1)``."""
        return min(years / (self.ramp_years or self.years), 1.0)

    def delta_t(self, years: float) -> float:
        """Warming (K) after ``years``."""
        return self.warming * self.ramp(years)

    def litter_factor(self, years: float) -> float:
        """Litter input relative to today's after ``years``."""
        return 1.0 + self.litter_change * self.ramp(years)

    def forcing_at(self, forcing: Forcing, years: float) -> Forcing:
        """A copy of ``forcing`` as it is after ``years`` (warmer soil, scaled litter input; checked)."""
        fields = forcing.to_numpy()
        fields["soil_temperature"] = fields["soil_temperature"] + self.delta_t(years)
        fields["litter_input"] = fields["litter_input"] * self.litter_factor(years)
        return Forcing.from_numpy(**fields)


#: the issue's scenarios: +2 K and +4 K in 100 years, and +2 K with 10 % more litter
SCENARIOS = {"+2 K": Scenario(2.0), "+4 K": Scenario(4.0), "+2 K, litter +10 %": Scenario(2.0, litter_change=0.1)}


def layer_thickness_above(depth: float | None) -> Tensor:
    """The part of each of the 20 CLM5 layers above ``depth`` (m) [20]; ``None``: every layer whole."""
    if depth is None:
        return DZ.clone()
    if not depth > 0:
        raise BinnInputError(f"depth must be > 0 m; got {depth}")
    return torch.clamp(depth - ZTOP, min=0.0).minimum(DZ)


@dataclass
class Projection:
    """What :func:`project` returns (leading dimensions ``...`` as in the parameters given).

    Attributes
    ----------
    years : [T + 1] years since the start (0, 1, ..., ``scenario.years``).
    soc : [..., n_sites, T + 1, 20] SOC (SOM 1 + 2 + 3) in every layer, gC m-3.
    pools : [..., n_sites, T + 1, 7, 20] every pool, gC m-3 (only with ``keep_pools=True``).
    scenario : the :class:`Scenario`.
    """

    years: Tensor
    soc: Tensor
    scenario: Scenario
    pools: Tensor | None = None

    def stock(self, depth: float | None = None) -> Tensor:
        """SOC stock from the surface to ``depth`` (m; None: whole profile) [..., n_sites, T + 1], gC m-2."""
        return (self.soc * layer_thickness_above(depth).to(self.soc)).sum(dim=-1)

    def change(self, depth: float | None = None) -> Tensor:
        """Change of :meth:`stock` since the start [..., n_sites, T + 1], gC m-2."""
        stock = self.stock(depth)
        return stock - stock[..., :1]

    def final_change(self, depth: float | None = None) -> Tensor:
        """Change of the stock at the end of the run [..., n_sites], gC m-2."""
        return self.change(depth)[..., -1]

    def changes(self, site_ids: pd.Index) -> pd.DataFrame:
        """Final change of each :data:`DEPTHS` interval per site (gC m-2), for a run without leading dims."""
        if self.soc.ndim != 3 or len(site_ids) != self.soc.shape[0]:
            raise BinnInputError(f"changes() needs one projection of {self.soc.shape[-3]} sites and as many ids; "
                                 f"got soc {tuple(self.soc.shape)} and {len(site_ids)} ids")
        return pd.DataFrame({name: self.final_change(depth).numpy() for name, depth in DEPTHS.items()},
                            index=site_ids)


def parameter_tensor(params: Tensor | pd.DataFrame) -> Tensor:
    """Physical CLM5 parameters as float64 ``[..., n_sites, 21]`` (a DataFrame: its columns by name)."""
    if isinstance(params, pd.DataFrame):
        missing = [n for n in CLM5_PARAMETERS.names if n not in params.columns]
        if missing:
            raise BinnInputError(f"the parameter table lacks column(s) {', '.join(missing)}")
        params = torch.tensor(params[list(CLM5_PARAMETERS.names)].to_numpy(dtype=float))
    if not isinstance(params, Tensor):
        raise BinnInputError(f"params must be a Tensor or DataFrame; got {type(params).__name__}")
    if params.ndim < 2 or params.shape[-1] != len(CLM5_PARAMETERS):
        raise BinnInputError(f"params must have shape [..., n_sites, {len(CLM5_PARAMETERS)}]; "
                             f"got {tuple(params.shape)}")
    return params.detach().to(torch.float64)


@torch.no_grad()
@with_num_threads
def project(params: Tensor | pd.DataFrame, forcing: Forcing, scenario: Scenario = Scenario(), *,
            dt_years: float = DT_YEARS, keep_pools: bool = False, num_threads: int | None = DEFAULT_THREADS) -> Projection:
    """Run CLM5 from today's steady state through ``scenario`` (implicit Euler, float64).

    ``params``: physical values ``[n_sites, 21]`` (or a DataFrame with a column per parameter), or
    ``[..., n_sites, 21]`` for several parameter sets of the same sites (ensemble members): every
    set runs in one batch with the same ``forcing`` (``n_sites`` sites). ``dt_years`` must divide
    ``scenario.years``. Returns a :class:`Projection`.
    ``num_threads``: torch CPU threads, restored afterwards (None: torch's setting; :mod:`binn_lite.threads`).
    """
    params = parameter_tensor(params)
    lead, n_sites = params.shape[:-2], params.shape[-2]
    if not isinstance(forcing, Forcing) or len(forcing) != n_sites:
        raise BinnInputError(f"forcing must be a Forcing of the {n_sites} sites of params; got "
                             f"{type(forcing).__name__} of {len(forcing) if isinstance(forcing, Forcing) else '?'}")
    n_steps = round(scenario.years / dt_years)
    if not dt_years > 0 or abs(n_steps * dt_years - scenario.years) > 1e-9 * scenario.years:
        raise BinnInputError(f"dt_years must be > 0 and divide the {scenario.years:g} years; got {dt_years}")
    scenario.forcing_at(forcing, scenario.years)  # the forcing at the end of the ramps must be valid too
    flat = params.reshape(-1, len(CLM5_PARAMETERS))
    model = CLM5()
    model.check_params(flat)
    forcing = forcing.to(dtype=torch.float64)[torch.arange(n_sites).repeat(flat.shape[0] // n_sites)]

    x = model.steady_state(flat, forcing).transpose(1, 2)  # [batch, 20 layers, 7 pools]
    lower, diag, upper, inputs = system_blocks(flat, forcing)
    transport = torch.diag_embed(-(lower + upper))  # V's diagonal blocks: its rows sum to zero
    decomposition = diag - transport  # D_0 = -A xi_0 K, layer by layer
    q10 = flat[:, _Q10, None, None, None]
    dt = dt_years * DAYS_PER_YEAR
    fixed = transport + torch.eye(N_POOLS, dtype=torch.float64) / dt  # I/dt + V: the same every step
    states = [x]
    for step in range(1, n_steps + 1):
        t = step * dt_years
        speed = q10 ** (scenario.delta_t(t) / 10.0)  # every rate times Q10^(dT / 10)
        factors = BlockTridiagonal(lower, torch.addcmul(fixed, speed, decomposition), upper)
        x = factors.solve(scenario.litter_factor(t) * inputs + x / dt)
        states.append(x if keep_pools else x[..., _SOM].sum(dim=-1, keepdim=True))

    trajectory = torch.stack(states[1:], dim=1)  # [batch, T, 20, 7 or 1]
    start = states[0] if keep_pools else states[0][..., _SOM].sum(dim=-1, keepdim=True)
    trajectory = torch.cat([start[:, None], trajectory], dim=1).transpose(2, 3)  # [batch, T + 1, 7 or 1, 20]
    soc = trajectory[:, :, _SOM].sum(dim=2) if keep_pools else trajectory[:, :, 0]
    shape = (*lead, n_sites, n_steps + 1)
    years = torch.arange(n_steps + 1, dtype=torch.float64) * dt_years
    pools = trajectory.reshape(*shape, N_POOLS, -1) if keep_pools else None
    return Projection(years=years, soc=soc.reshape(*shape, -1), scenario=scenario, pools=pools)


def true_projection(dataset, scenario: Scenario = Scenario(), **kwargs) -> Projection:
    """:func:`project` with the true parameters of a synthetic ``dataset`` (``dataset.truth``)."""
    if getattr(dataset, "truth", None) is None:
        raise BinnInputError("this dataset has no truth (only synthetic data know their true parameters)")
    return project(dataset.truth.params, dataset.forcing, scenario, **kwargs)


def project_binn(binn, dataset, scenario: Scenario = Scenario(), **kwargs) -> Projection:
    """:func:`project` with the parameters a trained BINN gives the sites of ``dataset``."""
    params, _ = binn.predict_dataset(dataset)
    return project(params, dataset.forcing, scenario, **kwargs)
