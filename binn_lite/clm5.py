"""The CLM5 vertically resolved soil-carbon model in matrix form, differentiable in PyTorch.

Seven pools in each of 20 soil layers (CLM5 technical note; Huang et al. 2018; Lu et al. 2020):

    dX/dt = B I + A xi K X - V X                                   (time in days)

* ``X``  [gC m-3]: pools CWD, litter 1-3, SOM 1-3 in every layer (140 states per site),
* ``B I`` [gC m-3 day-1]: litter and CWD input spread over depth (:func:`input_allocation`),
* ``K`` [day-1]: base turnover ``k_p = 1 / (365 tau_p)`` (:func:`base_turnover`),
* ``xi`` [-]: temperature, water, oxygen, nitrogen and depth scalars (:func:`environmental_scalars`),
* ``A`` [-]: transfer fractions between pools, -1 on the diagonal (:func:`transfer_matrix`),
* ``V`` [day-1]: vertical mixing by diffusion (:func:`vertical_transport`).

The steady state with the 12-month mean rates solves ``(V - A xi K) X* = B I``
(:meth:`CLM5.steady_state`) stage by stage: carbon flows CWD -> litter -> SOM and never back, so
CWD, then litter 1-3 (one tridiagonal system each), then SOM 1-3 (3 x 3 blocks) are solved in turn
(:func:`binn_lite.blocksolve.staged_solve`). For training, :meth:`CLM5.precompute` computes once
what the fixed parameters determine (:mod:`binn_lite.clm5_cache`).

Differences from the original research code, on purpose:

* mass is conserved at bedrock: no diffusive flux crosses the top of bedrock (the interface
  conductance there is exactly zero), so total input equals total respiration at steady state;
* decomposition rates are floored at ``RATE_FLOOR`` = 1e-30 day-1 so the steady state exists even
  where a scalar is exactly zero (e.g. a water scalar of 0). Pools that cannot decompose then
  hold astronomically large (finite, physically meaningless) amounts: a sign the forcing is wrong.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch

from .errors import BinnInputError
from .blocksolve import BlockTridiagonal, Stage, dense_solve, staged_solve, to_dense
from .forcing import FORCING_FIELDS, Forcing
from .parameters import Parameter, ParameterTable
from .process import ProcessModel, interpolate

__all__ = [
    "POOLS", "SOM_POOLS", "N_POOLS", "N_LAYERS", "ZSOI", "DZ", "ZISOI", "ZTOP",
    "CLM5_PARAMETERS", "MOST_INFLUENTIAL", "RATE_FLOOR", "DIFFUSIVITY_FLOOR",
    "Forcing", "FORCING_FIELDS", "CLM5", "Trajectory",
    "validate_parameters", "transfer_matrix", "base_turnover", "environmental_scalars",
    "decomposition_rates", "diffusivity", "interface_conductance", "vertical_transport",
    "input_profile", "input_allocation", "system_blocks", "system_matrix", "heterotrophic_respiration",
    "soc_stock", "spin_up", "SPIN_UP_SCHEDULE",
]

# ---------------------------------------------------------------------------------------------
# Pools and soil layers
# ---------------------------------------------------------------------------------------------
POOLS = ("cwd", "litter1", "litter2", "litter3", "som1", "som2", "som3")
SOM_POOLS = ("som1", "som2", "som3")
POOL = {name: i for i, name in enumerate(POOLS)}
N_POOLS = len(POOLS)
N_LAYERS = 20
#: pools that move vertically (CWD does not)
_MOBILE = torch.tensor([name != "cwd" for name in POOLS], dtype=torch.float64)

#: node depths of CLM5's first 20 soil layers (m)
ZSOI = torch.tensor([0.01, 0.04, 0.09, 0.16, 0.26, 0.40, 0.58, 0.80, 1.06, 1.36, 1.70, 2.08, 2.50,
                     2.99, 3.58, 4.27, 5.06, 5.95, 6.94, 8.03], dtype=torch.float64)
#: layer thicknesses (m)
DZ = torch.tensor([0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.20, 0.24, 0.28, 0.32, 0.36, 0.40, 0.44,
                   0.54, 0.64, 0.74, 0.84, 0.94, 1.04, 1.14], dtype=torch.float64)
#: layer bottoms (m); the surface is at 0
ZISOI = torch.tensor([0.02, 0.06, 0.12, 0.20, 0.32, 0.48, 0.68, 0.92, 1.20, 1.52, 1.88, 2.28, 2.72,
                      3.26, 3.90, 4.64, 5.48, 6.42, 7.46, 8.60], dtype=torch.float64)
#: layer tops (m)
ZTOP = torch.cat([torch.zeros(1, dtype=torch.float64), ZISOI[:-1]])

DAYS_PER_YEAR = 365.0
RATE_FLOOR = 1e-30  # day-1, lowest decomposition rate (see module docstring)
DIFFUSIVITY_FLOOR = 1e-30  # m2 yr-1, as in CLM5, so the interface conductance is defined
MAX_DEPTH_CRYOTURBATION = 3.0  # m, cryoturbation decreases linearly to zero at this depth
MAX_ALT_PERMAFROST = 2.0  # m, active layers deeper than this count as no permafrost
REFERENCE_TEMPERATURE = 298.15  # K, where xi_T = 1
SYSTEM_DTYPE = torch.float64  # the steady-state system is built and solved in float64 (CLM5.steady_state)

# ---------------------------------------------------------------------------------------------
# The 21 parameters (Xu et al. 2025, Table 1; default = middle of the range)
# ---------------------------------------------------------------------------------------------
_PARAMETER_ROWS = [
    ("bio", 3e-5, 5e-4, "m2 yr-1", "bioturbation diffusivity"),
    ("cryo", 3e-5, 1.6e-3, "m2 yr-1", "cryoturbation diffusivity"),
    ("q10", 1.2, 3.0, "-", "temperature sensitivity of decomposition"),
    ("efolding", 0.1, 1.0, "m", "depth e-folding of decomposition"),
    ("tau_cwd", 1.0, 6.0, "yr", "CWD turnover time"),
    ("tau_l1", 1e-4, 0.11, "yr", "litter 1 (metabolic) turnover time"),
    ("tau_l23", 0.1, 0.3, "yr", "litter 2 and 3 turnover time"),
    ("tau_s1", 1e-4, 0.5, "yr", "SOM 1 (fast) turnover time"),
    ("tau_s2", 1.0, 10.0, "yr", "SOM 2 (slow) turnover time"),
    ("tau_s3", 20.0, 400.0, "yr", "SOM 3 (passive) turnover time"),
    ("fl1s1", 0.1, 0.8, "-", "fraction of litter 1 outflow to SOM 1"),
    ("fl2s1", 0.2, 0.8, "-", "fraction of litter 2 outflow to SOM 1"),
    ("fl3s2", 0.2, 0.8, "-", "fraction of litter 3 outflow to SOM 2"),
    ("fs1s2", 1e-4, 0.4, "-", "fraction of SOM 1 outflow to SOM 2"),
    ("fs1s3", 1e-4, 0.1, "-", "fraction of SOM 1 outflow to SOM 3"),
    ("fs2s1", 0.1, 0.74, "-", "fraction of SOM 2 outflow to SOM 1"),
    ("fs2s3", 1e-4, 0.1, "-", "fraction of SOM 2 outflow to SOM 3"),
    ("fs3s1", 1e-4, 0.9, "-", "fraction of SOM 3 outflow to SOM 1"),
    ("fcwdl2", 0.5, 1.0, "-", "fraction of CWD outflow to litter 2 (the rest goes to litter 3)"),
    ("w_scaling", 1e-4, 5.0, "-", "multiplier of the water scalar"),
    ("beta", 0.5, 0.9999, "-", "shape of the input depth profile (Jackson et al. 1996)"),
]
CLM5_PARAMETERS = ParameterTable(
    [Parameter(n, lo, hi, unit, meaning, default=0.5 * (lo + hi)) for n, lo, hi, unit, meaning in _PARAMETER_ROWS]
)
#: the four most influential parameters (BINN and ScIReN recovery tests)
MOST_INFLUENTIAL = ("efolding", "tau_s3", "fs1s3", "w_scaling")

#: turnover time parameter of each pool (litter 3 uses the litter-2 turnover time)
_TURNOVER = {"cwd": "tau_cwd", "litter1": "tau_l1", "litter2": "tau_l23", "litter3": "tau_l23",
             "som1": "tau_s1", "som2": "tau_s2", "som3": "tau_s3"}
#: (receiving pool, donor pool) -> parameter of the fraction of the donor's outflow
_TRANSFERS = {("litter2", "cwd"): "fcwdl2", ("som1", "litter1"): "fl1s1",
              ("som1", "litter2"): "fl2s1", ("som2", "litter3"): "fl3s2",
              ("som2", "som1"): "fs1s2", ("som3", "som1"): "fs1s3", ("som1", "som2"): "fs2s1",
              ("som3", "som2"): "fs2s3", ("som1", "som3"): "fs3s1"}
#: pools whose decomposition is limited by nitrogen (xi_N): row 1 of :func:`_environment_means`, others row 0
_ENVIRONMENT_OF_POOL = torch.tensor([int(name in ("litter1", "litter2", "litter3")) for name in POOLS])


def _named(params: torch.Tensor) -> dict[str, torch.Tensor]:
    return CLM5_PARAMETERS.as_dict(params)


def validate_parameters(params: torch.Tensor) -> None:
    """Check physical parameters ``[batch, 21]``; raise ``ValueError`` naming parameter and site.

    Inside the table's ranges every check passes. Values passed directly may lie outside; they
    are accepted as long as the model stays well defined: finite; turnover times, Q10, e-folding
    depth > 0; diffusivities, ``w_scaling`` >= 0; fractions in [0, 1] and, for every donor pool, the
    transferred fractions summing to at most 1 (the rest is respired); ``beta`` in (0, 1).
    """
    if params.ndim != 2 or params.shape[1] != len(CLM5_PARAMETERS):
        raise BinnInputError(
            f"CLM5 expects physical parameters of shape [batch, {len(CLM5_PARAMETERS)}] "
            f"({', '.join(CLM5_PARAMETERS.names)}); got {tuple(params.shape)}"
        )
    values = params.detach()
    if not _breaks_a_rule(values):
        return
    p = _named(values)

    def fail(name: str, bad: torch.Tensor, rule: str) -> None:
        if bool(bad.any()):
            site = int(bad.nonzero()[0, 0])
            raise BinnInputError(f"parameter {name!r} {rule}; site {site} has {float(p[name][site]):g}")

    for name in CLM5_PARAMETERS.names:
        fail(name, ~torch.isfinite(p[name]), "must be finite")
    for name in ("q10", "efolding", *sorted(set(_TURNOVER.values()))):
        fail(name, p[name] <= 0, "must be > 0")
    for name in ("bio", "cryo", "w_scaling"):
        fail(name, p[name] < 0, "must be >= 0")
    for name in _TRANSFERS.values():
        fail(name, (p[name] < 0) | (p[name] > 1), "must be in [0, 1]")
    fail("beta", (p["beta"] <= 0) | (p["beta"] >= 1), "must be in (0, 1)")
    for donor in POOLS:
        names = [n for (to, frm), n in _TRANSFERS.items() if frm == donor]
        if donor == "cwd" or not names:
            continue
        total = sum(p[n] for n in names)
        bad = total > 1 + 1e-12
        if bool(bad.any()):
            site = int(bad.nonzero()[0, 0])
            raise BinnInputError(
                f"outflow fractions of pool {donor!r} ({' + '.join(names)}) sum to "
                f"{float(total[site]):.4g} > 1 at site {site}; at most 1 can leave a pool"
            )


def _columns(names) -> list[int]:
    return [CLM5_PARAMETERS.index(name) for name in names]


_POSITIVE = _columns(("q10", "efolding", *sorted(set(_TURNOVER.values()))))
_NON_NEGATIVE = _columns(("bio", "cryo", "w_scaling"))
_FRACTIONS = _columns(_TRANSFERS.values())
#: where each fraction of _FRACTIONS (then 1 - fcwdl2, CWD to litter 3) goes in A: A[receiver, donor]
_RECEIVERS = [POOL[to] for to, _ in _TRANSFERS] + [POOL["litter3"]]
_DONORS = [POOL[frm] for _, frm in _TRANSFERS] + [POOL["cwd"]]
_TURNOVER_COLUMNS = _columns(_TURNOVER[pool] for pool in POOLS)
#: [21, 7]: 1 where a parameter is a fraction of the pool's outflow (CWD respires nothing: left out)
_OUTFLOW = torch.zeros(len(CLM5_PARAMETERS), N_POOLS, dtype=torch.float64)
for (_receiver, _donor), _name in _TRANSFERS.items():
    if _donor != "cwd":
        _OUTFLOW[CLM5_PARAMETERS.index(_name), POOL[_donor]] = 1.0


def _rule_bounds() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rules of :func:`validate_parameters` but the outflow sums, column by column: a value passes
    when it lies above ``low`` (strictly where ``low_strict``) and below ``high`` (strictly where
    ``high_strict``). Unbounded sides are infinite and strict, so NaN and +-inf fail. (Integer
    values, which no model call passes, always fail: the rule-by-rule checks then decide.)"""
    n = len(CLM5_PARAMETERS)
    low, high = torch.full((n,), -math.inf, dtype=torch.float64), torch.full((n,), math.inf, dtype=torch.float64)
    low_strict, high_strict = torch.ones(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)
    low[_POSITIVE] = 0.0  # > 0
    low[_NON_NEGATIVE], low_strict[_NON_NEGATIVE] = 0.0, False  # >= 0
    low[_FRACTIONS], low_strict[_FRACTIONS], high[_FRACTIONS], high_strict[_FRACTIONS] = 0.0, False, 1.0, False
    beta = CLM5_PARAMETERS.index("beta")
    low[beta], high[beta] = 0.0, 1.0  # (0, 1)
    return low, low_strict, high, high_strict


_RULE_BOUNDS = _rule_bounds()


@functools.lru_cache(maxsize=None)
def _rules_as(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """:data:`_RULE_BOUNDS` and :data:`_OUTFLOW` in ``dtype`` on ``device`` (made once per pair)."""
    low, low_strict, high, high_strict = _RULE_BOUNDS
    return (low.to(device=device, dtype=dtype), low_strict.to(device), high.to(device=device, dtype=dtype),
            high_strict.to(device), _OUTFLOW.to(device=device, dtype=dtype))


def _breaks_a_rule(values: torch.Tensor) -> bool:
    """Whether any site breaks a rule of :func:`validate_parameters` (one pass, one sync)."""
    low, low_strict, high, high_strict, outflow = _rules_as(values.dtype, values.device)
    above = torch.where(low_strict, values > low, values >= low)
    below = torch.where(high_strict, values < high, values <= high)
    within = (above & below).all() & (values @ outflow <= 1 + 1e-12).all()
    return not bool(within)


# ---------------------------------------------------------------------------------------------
# Building blocks (each returns a batch; a notebook can plot any of them)
# ---------------------------------------------------------------------------------------------
def transfer_matrix(params: torch.Tensor) -> torch.Tensor:
    """Transfer matrix ``A`` [batch, 7, 7] (dimensionless, the same in every layer).

    ``A[i, j]`` is the fraction of pool j's outflow that enters pool i; the diagonal is -1.
    CWD splits into litter 2 (``fcwdl2``) and litter 3 (``1 - fcwdl2``) and respires nothing; of
    every other pool the part not transferred, ``-sum_i A[i, j] = 1 - sum_{i != j} A[i, j]``, is respired.
    """
    fcwdl2 = params[:, CLM5_PARAMETERS.index("fcwdl2"), None]
    fractions = torch.cat([params[:, _FRACTIONS], 1 - fcwdl2], dim=1)  # in the order of _RECEIVERS, _DONORS
    a = -torch.eye(N_POOLS, dtype=params.dtype, device=params.device).repeat(params.shape[0], 1, 1)
    a[:, _RECEIVERS, _DONORS] = fractions
    return a


def base_turnover(params: torch.Tensor) -> torch.Tensor:
    """Base turnover rates ``k_p = 1 / (365 tau_p)`` [batch, 7] in day-1 (diagonal of ``K``)."""
    tau = params[:, _TURNOVER_COLUMNS]  # yr, [batch, 7]
    return 1.0 / (DAYS_PER_YEAR * tau)


def environmental_scalars(params: torch.Tensor, forcing: Forcing) -> dict[str, torch.Tensor]:
    """Environmental modifiers of decomposition (dimensionless).

    Returns a dict with, per month and layer ``[batch, 12, 20]``:

    * ``"temperature"``: ``xi_T = Q10 ** ((T - 298.15) / 10)``, T in K (CLM5 has a separate
      frozen-soil Q10 below freezing; like the BINN research code, binn_lite sets it equal to Q10,
      so that branch reduces to this expression),
    * ``"water"``: ``xi_W = min(1, w * w_scaling)``,
    * ``"oxygen"``: ``xi_O`` from the forcing,
    * ``"nitrogen"``: ``xi_N`` from the forcing (acts on litter 1-3 only),

    and per layer ``[batch, 20]``: ``"depth"``: ``xi_depth = exp(-zsoi / efolding)``.
    """
    return {
        "temperature": _temperature_scalar(params, forcing),
        "water": _water_scalar(params, forcing),
        "oxygen": forcing.oxygen_scalar,
        "nitrogen": forcing.nitrogen_scalar,
        "depth": _depth_scalar(params),
    }


def _temperature_scalar(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """``xi_T = Q10 ** ((T - 298.15) / 10)`` [batch, 12, 20]."""
    q10 = params[:, CLM5_PARAMETERS.index("q10"), None, None]
    return q10 ** ((forcing.soil_temperature - REFERENCE_TEMPERATURE) / 10.0)


def _water_scalar(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """``xi_W = min(1, w * w_scaling)`` [batch, 12, 20]."""
    return torch.clamp(forcing.water_scalar * params[:, CLM5_PARAMETERS.index("w_scaling"), None, None], max=1.0)


def _depth_scalar(params: torch.Tensor) -> torch.Tensor:
    """``xi_depth = exp(-zsoi / efolding)`` [batch, 20]."""
    return torch.exp(-ZSOI.to(params) / params[:, CLM5_PARAMETERS.index("efolding"), None])


def _oxygen_nitrogen(forcing: Forcing) -> torch.Tensor:
    """``(xi_O, xi_O xi_N)`` per month and layer [batch, 2, 12, 20]: the forcing's part of the
    monthly scalar product of plain pools and of nitrogen-limited pools."""
    return torch.stack([forcing.oxygen_scalar, forcing.oxygen_scalar * forcing.nitrogen_scalar], dim=1)


def _environment_means(params: torch.Tensor, forcing: Forcing, monthly: torch.Tensor | None = None,
                       folded: tuple[str, ...] = ()) -> torch.Tensor:
    """12-month means of ``xi_T xi_W xi_O`` and ``xi_T xi_W xi_O xi_N`` [batch, 2, 20].

    The mean of the monthly product, not the product of monthly means. ``monthly``: the product
    of :func:`_oxygen_nitrogen` with the scalars of the parameters in ``folded`` (``"q10"``:
    ``xi_T``, ``"w_scaling"``: ``xi_W``) already multiplied in (:mod:`binn_lite.clm5_cache`).
    """
    if monthly is None:
        monthly = _oxygen_nitrogen(forcing)
    if "q10" not in folded:
        monthly = monthly * _temperature_scalar(params, forcing)[:, None]
    if "w_scaling" not in folded:
        monthly = monthly * _water_scalar(params, forcing)[:, None]
    return monthly.mean(dim=2)


def _pool_rates(params: torch.Tensor, environment: torch.Tensor) -> torch.Tensor:
    """Rates ``k_p xi_depth <xi>`` [batch, 20, 7] (day-1, floored) from the 12-month means
    ``environment`` [batch, 2, 20] of :func:`_environment_means` (xi_N for litter 1-3 only)."""
    by_pool = environment.index_select(1, _ENVIRONMENT_OF_POOL.to(environment.device)).transpose(1, 2)  # [batch, 20, 7]
    rates = base_turnover(params)[:, None, :] * _depth_scalar(params)[:, :, None] * by_pool
    return torch.clamp(rates, min=RATE_FLOOR)


def decomposition_rates(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Effective decomposition rates ``(xi K)`` [batch, 20 layers, 7 pools] in day-1.

    The 12-month arithmetic mean of the monthly rate ``k_p xi_T xi_W xi_O xi_depth (xi_N)``: the
    mean of the product, not the product of monthly means. Floored at :data:`RATE_FLOOR`.
    """
    return _pool_rates(params, _environment_means(params, forcing))


def diffusivity(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Monthly mixing diffusivity at the layer bottoms ``ZISOI`` [batch, 12, 20] in m2 yr-1.

    With ``ALT = max(altmax, altmax_lastyear)`` of the month (m):

    * permafrost, ``0 < ALT <= 2``: ``cryo`` above ALT, ``cryo (1 - (z - ALT) / (3 - ALT))`` from
      ALT to 3 m, 0 below 3 m (Koven et al. 2013);
    * ``ALT > 2``: ``bio`` in every layer;  ``ALT <= 0``: no mixing.

    Layers below bedrock do not mix. Values are floored at :data:`DIFFUSIVITY_FLOOR`.
    """
    p = _named(params)
    z = ZISOI.to(params)
    alt = torch.maximum(forcing.altmax, forcing.altmax_lastyear)[:, :, None]  # [batch, 12, 1]
    permafrost = (alt > 0) & (alt <= MAX_ALT_PERMAFROST)
    span = torch.where(permafrost, MAX_DEPTH_CRYOTURBATION - alt, torch.ones_like(alt))  # no 0/0
    decreasing = 1 - (z - alt) / span
    cryo = p["cryo"][:, None, None]
    cryo_profile = torch.where(
        z < alt, cryo, torch.where(z <= MAX_DEPTH_CRYOTURBATION, cryo * decreasing, torch.zeros_like(decreasing))
    )
    bio = p["bio"][:, None, None].expand_as(cryo_profile)
    d = torch.where(permafrost, cryo_profile, torch.where(alt > MAX_ALT_PERMAFROST, bio, torch.zeros_like(bio)))
    layer = torch.arange(N_LAYERS, device=params.device)
    below_bedrock = layer[None, None, :] >= forcing.bedrock[:, None, None]
    d = torch.where(below_bedrock, torch.zeros_like(d), d)
    return torch.clamp(d, min=DIFFUSIVITY_FLOOR)


def interface_conductance(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Month-averaged diffusive conductance between layers j and j+1 [batch, 19] in m day-1.

    Series resistances from node j to the interface and on to node j+1:
    ``g_j = 1 / ((zisoi_j - zsoi_j) / D_j + (zsoi_{j+1} - zisoi_j) / D_{j+1})``, with ``D`` in
    m2 day-1; for uniform ``D`` this is ``D / (zsoi_{j+1} - zsoi_j)``. Interfaces at and below the top
    of bedrock carry no flux (``g = 0``), so mass is conserved.
    """
    d = diffusivity(params, forcing) / DAYS_PER_YEAR  # m2 day-1, [batch, 12, 20]
    zsoi, zisoi = ZSOI.to(params), ZISOI.to(params)
    upper_half = (zisoi[:-1] - zsoi[:-1]) / d[:, :, :-1]
    lower_half = (zsoi[1:] - zisoi[:-1]) / d[:, :, 1:]
    g = (1.0 / (upper_half + lower_half)).mean(dim=1)  # [batch, 19]
    interface = torch.arange(N_LAYERS - 1, device=params.device)
    above_bedrock = interface[None, :] < (forcing.bedrock[:, None] - 1)
    return torch.where(above_bedrock, g, torch.zeros_like(g))


def _transport_bands(params: torch.Tensor, forcing: Forcing) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sub-, main and super-diagonal of ``V`` [batch, 20] each, day-1 (zero-flux top and bottom)."""
    g = interface_conductance(params, forcing)
    zero = torch.zeros_like(g[:, :1])
    g_above = torch.cat([zero, g], dim=1)  # g_{j-1}
    g_below = torch.cat([g, zero], dim=1)  # g_j
    dz = DZ.to(params)
    return -g_above / dz, (g_above + g_below) / dz, -g_below / dz


def vertical_transport(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Vertical mixing operator ``V`` [batch, 20, 20] in day-1 (for one mobile pool).

    Row j: ``V_jj = (g_{j-1} + g_j) / dz_j``, ``V_j,j-1 = -g_{j-1} / dz_j``, ``V_j,j+1 = -g_j / dz_j``.
    The same operator acts on the six litter and SOM pools; CWD does not move. Columns weighted by
    ``dz`` sum to zero: mixing moves carbon, it never creates or destroys it.
    """
    sub, main, sup = _transport_bands(params, forcing)
    return torch.diag_embed(main) + torch.diag_embed(sub[:, 1:], offset=-1) + torch.diag_embed(sup[:, :-1], offset=1)


def input_profile(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Fraction of each input going to each layer [batch, 20] (sums to 1 over the 20 layers).

    Jackson et al. (1996) profile with depths in cm:
    ``f_j = (beta^(100 ztop_j) - beta^(100 zbot_j)) / (1 - beta^860)``, over all 20 layers whatever
    the bedrock or active layer. A site without an active layer (12-month mean of last year's
    maximum active-layer depth <= 0) puts all input in the top layer.
    """
    beta = _named(params)["beta"][:, None]
    log_beta = torch.log(beta)
    cm = 100.0
    top = torch.exp(cm * ZTOP.to(params) * log_beta)
    bottom = torch.exp(cm * ZISOI.to(params) * log_beta)
    profile = (top - bottom) / (1 - torch.exp(cm * ZISOI[-1].item() * log_beta))
    frozen = forcing.altmax_lastyear.mean(dim=1) <= 0
    surface = torch.zeros_like(profile)
    surface[:, 0] = 1.0
    return torch.where(frozen[:, None], surface, profile)


def input_allocation(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Input term ``B I`` [batch, 7, 20] in gC m-3 day-1.

    The annual sum of the monthly inputs (gC m-2) divided by 365 gives ``I_p`` in gC m-2 day-1 for
    CWD and litter 1-3; layer j receives ``I_p f_j / dz_j``, so ``sum_j (B I)_pj dz_j = I_p``.
    SOM pools get no direct input.
    """
    annual = forcing.litter_input.sum(dim=1) / DAYS_PER_YEAR  # [batch, 4]
    density = input_profile(params, forcing) / DZ.to(params)  # [batch, 20] m-1
    litter = annual[:, :, None] * density[:, None, :]
    som = litter.new_zeros(litter.shape[0], len(SOM_POOLS), N_LAYERS)
    return torch.cat([litter, som], dim=1)


class SystemParts(NamedTuple):
    """The ingredients of ``(V - A xi K) X = B I`` for a batch of sites, layer-major.

    ``transport``: the sub-, main and super-diagonal of ``V`` [batch, 20] each (day-1);
    ``rates``: ``xi K`` [batch, 20, 7] (day-1); ``transfer``: ``A`` [batch, 7, 7];
    ``inputs``: ``B I`` [batch, 20, 7] (gC m-3 day-1).
    """

    transport: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    rates: torch.Tensor
    transfer: torch.Tensor
    inputs: torch.Tensor


def _system_parts(params: torch.Tensor, forcing: Forcing) -> SystemParts:
    """All :class:`SystemParts` from the parameters and the forcing."""
    return SystemParts(_transport_bands(params, forcing), decomposition_rates(params, forcing),
                       transfer_matrix(params), input_allocation(params, forcing).transpose(1, 2))


def _blocks(parts: SystemParts, pools: slice = slice(None)):
    """Block-tridiagonal form of the system restricted to ``pools`` (rows and columns).

    Returns ``lower``, ``upper`` [batch, 20, n] (mixing couples a pool to itself in the layers
    above and below), ``diag`` [batch, 20, n, n] (``V_jj - A xi_j K``) and ``rhs`` [batch, 20, n].
    """
    sub, main, sup = parts.transport
    mobile = _MOBILE[pools].to(main)
    rates, a = parts.rates[:, :, pools], parts.transfer[:, pools, pools]
    diag = torch.diag_embed(main[:, :, None] * mobile) - a[:, None, :, :] * rates[:, :, None, :]
    return sub[:, :, None] * mobile, diag, sup[:, :, None] * mobile, parts.inputs[:, :, pools]


def system_blocks(params: torch.Tensor, forcing: Forcing):
    """Blocks of ``(V - A xi K) X = B I`` for all 7 pools, layer by layer: ``lower``, ``upper``
    [batch, 20, 7], ``diag`` [batch, 20, 7, 7] (day-1) and ``rhs`` = B I [batch, 20, 7] (gC m-3 day-1),
    for a block-tridiagonal solver (:class:`~binn_lite.blocksolve.BlockTridiagonal`; see :func:`_blocks`)."""
    return _blocks(_system_parts(params, forcing))


#: the pools in solve order (:func:`~binn_lite.blocksolve.staged_solve`): carbon flows CWD -> litter
#: -> SOM and never back. CWD does not mix; litter pools exchange no carbon; SOM pools do.
_STAGES = (Stage(slice(0, 1), mixing=False, exchange=False),  # cwd
           Stage(slice(1, 4), mixing=True, exchange=False),  # litter 1-3
           Stage(slice(4, 7), mixing=True, exchange=True))  # SOM 1-3


def _staged_solve(parts: SystemParts) -> torch.Tensor:
    """Steady-state pools [batch, 20, 7] of ``(V - A xi K) X = B I``, stage by stage (:data:`_STAGES`)."""
    return staged_solve(*parts.transport, parts.rates, parts.transfer, parts.inputs, _STAGES)


def system_matrix(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """The dense steady-state matrix ``V - A xi K`` [batch, 140, 140], layer by layer (for plots)."""
    lower, diag, upper, _ = system_blocks(params, forcing)
    return to_dense(lower, diag, upper)


def heterotrophic_respiration(params: torch.Tensor, forcing: Forcing, pools: torch.Tensor) -> torch.Tensor:
    """Heterotrophic respiration [batch, 20] in gC m-3 day-1 of pools ``[batch, 7, 20]``.

    Every pool respires the part of its outflow not transferred: ``sum_p (-sum_i A_ip) (xi K)_p X_p``.
    """
    respired_fraction = -transfer_matrix(params).sum(dim=1)  # [batch, 7]
    rates = decomposition_rates(params, forcing).transpose(1, 2)  # [batch, 7, 20]
    return (respired_fraction[:, :, None] * rates * pools).sum(dim=1)


class Trajectory(NamedTuple):
    """Result of :meth:`CLM5.simulate`: times ``years`` [T] and ``pools`` [batch, T, 7, 20] gC m-3."""

    years: torch.Tensor
    pools: torch.Tensor


def _as_cache(forcing):
    """``forcing`` if it is a :class:`~binn_lite.clm5_cache.CLM5Cache`, else ``None``."""
    from .clm5_cache import CLM5Cache  # clm5_cache builds on this module: imported when used

    return forcing if isinstance(forcing, CLM5Cache) else None


def _plain_forcing(forcing):
    """The :class:`Forcing` itself, or the one a cache holds (for what the cache does not cover)."""
    cache = _as_cache(forcing)
    return forcing if cache is None else cache.forcing


class CLM5(ProcessModel):
    """The CLM5 soil-carbon matrix model as a differentiable process model.

    Parameters
    ----------
    solver : ``"block"`` (block elimination pool stage by pool stage, :func:`_staged_solve`, with
        an adjoint backward pass; fast) or ``"dense"`` (assemble the 140 x 140 matrix and call
        ``torch.linalg.solve``; a reference for tests).

    Calling the model, ``model(params, forcing)``, returns SOC = SOM 1 + SOM 2 + SOM 3 at the 20
    node depths ``[batch, 20]`` in gC m-3. ``params`` are physical values ``[batch, 21]`` (or
    ``[21]``, used for every site); map network outputs in [0, 1] with
    ``CLM5_PARAMETERS.to_physical``. Results follow the dtype and device of ``params``; the
    system itself is always built and solved in float64 (:meth:`steady_state` says why).

    For training with a few learned parameters, :meth:`precompute` computes once what the fixed
    parameters determine (:mod:`binn_lite.clm5_cache`); pass its result instead of the forcing.
    """

    parameter_table = CLM5_PARAMETERS
    most_influential = MOST_INFLUENTIAL
    nonfinite_hints = (
        "forcing that stops decomposition (e.g. a water scalar or w_scaling of 0): the steady state then "
        "holds input / rate floor, astronomically large, and overflows",
    )

    def __init__(self, solver: str = "block"):
        super().__init__()
        if solver not in ("block", "dense"):
            raise BinnInputError(f"solver must be 'block' or 'dense'; got {solver!r}")
        self.solver = solver

    def extra_repr(self) -> str:
        return f"solver={self.solver!r}"

    def _prepare(self, params: torch.Tensor, forcing: Forcing) -> tuple[torch.Tensor, Forcing]:
        """``params`` [batch, 21] checked, and the forcing (or :class:`~binn_lite.clm5_cache.CLM5Cache`,
        checked against ``params``) in float64 on their device."""
        cache = _as_cache(forcing)
        if cache is None and not isinstance(forcing, Forcing):
            raise BinnInputError(f"forcing must be a binn_lite Forcing or CLM5Cache; got {type(forcing).__name__}")
        params = torch.as_tensor(params)
        if not params.is_floating_point():
            params = params.to(torch.get_default_dtype())
        if params.ndim == 1:
            params = params.expand(len(forcing), -1)
        validate_parameters(params)
        if cache is not None:
            cache = cache.to(device=params.device)
            cache.check(params)
            return params, cache
        if params.shape[0] != len(forcing):
            raise BinnInputError(f"parameters are for {params.shape[0]} sites but the forcing has {len(forcing)}")
        return params, forcing.to(device=params.device, dtype=SYSTEM_DTYPE)

    def precompute(self, forcing: Forcing, params: torch.Tensor, varying) -> "CLM5Cache":
        """The parts of the system that ``varying`` (parameter names) leave unchanged, computed once.

        ``params``: physical values [n_sites, 21] or [21]; only the columns not in ``varying``
        matter, and later calls must keep them. Returns a :class:`~binn_lite.clm5_cache.CLM5Cache`
        to pass instead of ``forcing``: ``model(params, cache[batch])`` equals
        ``model(params, forcing[batch])`` (contract section 6).
        """
        from .clm5_cache import CLM5Cache  # clm5_cache builds on this module: imported when used

        params = torch.as_tensor(params)
        if not isinstance(forcing, Forcing):
            raise BinnInputError(f"forcing must be a binn_lite Forcing; got {type(forcing).__name__}")
        self.check_params(params[None] if params.ndim == 1 else params)
        params, forcing = self._prepare(params, forcing)
        return CLM5Cache.build(forcing, params.to(SYSTEM_DTYPE), varying)

    def steady_state(self, params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
        """Steady-state pools ``X*`` [batch, 7, 20] in gC m-3: ``(V - A xi K) X* = B I``.

        Assembled and solved in ``SYSTEM_DTYPE`` (float64), returned in the dtype of ``params``;
        gradients flow through the casts. Where decomposition is many orders of magnitude slower
        than mixing (small ``efolding`` and ``w_scaling``, long ``tau_s3``) the system is nearly
        singular: mixing conserves carbon exactly and only tiny rates remove it, so merely
        rounding the matrix to float32 changes SOC by up to ~100 % (componentwise condition
        numbers up to ~1e10). float64 costs about 40 % more time per batch (``bench/solver.py``).
        """
        params, forcing = self._prepare(params, forcing)
        system = params.to(SYSTEM_DTYPE)
        cache = _as_cache(forcing)
        parts = cache.system_parts(system) if cache is not None else _system_parts(system, forcing)
        pools = _staged_solve(parts) if self.solver == "block" else dense_solve(*_blocks(parts))
        return pools.transpose(1, 2).to(params.dtype)

    def forward(self, params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
        """Steady-state SOC (SOM 1 + 2 + 3) at the 20 nodes [batch, 20] in gC m-3."""
        pools = self.steady_state(params, forcing)
        return pools[:, POOL["som1"]:POOL["som3"] + 1].sum(dim=1)

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """SOC at observed depths (m) ``[batch, n_obs]``, linear between the nodes ``ZSOI``.

        Depths above the first node or below the last take the nearest node; NaN depths give NaN.
        """
        if prediction.ndim != 2 or prediction.shape[1] != N_LAYERS:
            raise BinnInputError(f"CLM5 predictions have shape [batch, {N_LAYERS}]; got {tuple(prediction.shape)}")
        return interpolate(prediction, ZSOI, coords)

    def config(self) -> dict:
        """Constructor arguments (see :mod:`binn_lite.process`, section 5)."""
        return {"solver": self.solver}

    def mass_balance(self, params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
        """Relative imbalance ``(input - respiration) / input`` per site ``[batch]`` at steady state.

        Input and respiration are column totals in gC m-2 day-1 (layer values times ``DZ``). The
        model conserves mass (no flux crosses bedrock), so this is zero to solver precision.
        Computed in float64 whatever the dtype of ``params``.
        """
        params, forcing = self._prepare(params, forcing)
        params = params.to(SYSTEM_DTYPE)
        pools = self.steady_state(params, forcing)
        forcing = _plain_forcing(forcing)
        dz = DZ.to(params)
        inputs = (input_allocation(params, forcing) * dz).sum(dim=(1, 2))
        respired = (heterotrophic_respiration(params, forcing, pools) * dz).sum(dim=1)
        return (inputs - respired) / inputs

    @torch.no_grad()
    def simulate(self, params: torch.Tensor, forcing: Forcing, years: float,
                 x0: torch.Tensor | None = None, dt_days: float = DAYS_PER_YEAR,
                 record_every: int = 1) -> Trajectory:
        """Integrate ``dX/dt = B I + A xi K X - V X`` in time with implicit (backward) Euler steps.

        ``(I + dt M) X_{n+1} = X_n + dt B I`` with ``M = V - A xi K`` and the month-averaged rates,
        so the fixed point is exactly :meth:`steady_state`. Implicit Euler is unconditionally stable:
        steps of a year or more are fine even though litter 1 turns over in hours to weeks. The
        matrix is factored once and reused every step. Not differentiable (use ``steady_state``
        for training).

        Parameters
        ----------
        years : length of the run (years). ``x0``: start [batch, 7, 20] gC m-3 (default: zero,
        i.e. a spin-up from bare soil). ``dt_days``: step length. ``record_every``: keep every
        n-th step.
        """
        params, forcing = self._prepare(params, forcing)
        forcing = _plain_forcing(forcing)
        if dt_days <= 0 or years <= 0:
            raise BinnInputError(f"years and dt_days must be positive; got years={years}, dt_days={dt_days}")
        out_dtype, params = params.dtype, params.to(SYSTEM_DTYPE)  # as in steady_state
        lower, diag, upper, rhs = system_blocks(params, forcing)
        eye = torch.eye(N_POOLS, dtype=params.dtype, device=params.device)
        factors = BlockTridiagonal(lower, diag + eye / dt_days, upper)
        batch = params.shape[0]
        x = params.new_zeros(batch, N_LAYERS, N_POOLS) if x0 is None else x0.to(params).transpose(1, 2)
        n_steps = max(1, round(years * DAYS_PER_YEAR / dt_days))
        times, states = [0.0], [x]
        for step in range(1, n_steps + 1):
            x = factors.solve(rhs + x / dt_days)
            if step % record_every == 0 or step == n_steps:
                times.append(step * dt_days / DAYS_PER_YEAR)
                states.append(x)
        pools = torch.stack(states, dim=1).transpose(2, 3).to(out_dtype)
        return Trajectory(torch.tensor(times, dtype=out_dtype), pools)


# ---------------------------------------------------------------------------------------------
# Stocks and spin-up
# ---------------------------------------------------------------------------------------------
_SOM = [POOL[name] for name in SOM_POOLS]


def soc_stock(pools: torch.Tensor, max_depth: float | None = None) -> torch.Tensor:
    """SOC stock (gC m-2): ``sum_j (SOM1 + SOM2 + SOM3)_j dz_j`` over layers ``[..., 7, 20] -> [...]``.

    ``pools`` in gC m-3 (e.g. :meth:`CLM5.steady_state` or ``Trajectory.pools``). With ``max_depth``
    (m) only whole layers whose bottom lies at or above it are counted (e.g. 1.2 m: the top 9 layers).
    """
    dz = DZ.to(pools)
    if max_depth is not None:
        dz = torch.where(ZISOI.to(pools) <= max_depth + 1e-9, dz, torch.zeros_like(dz))
    return (pools[..., _SOM, :].sum(dim=-2) * dz).sum(dim=-1)


#: default stages of :func:`spin_up`: (years, step in years)
SPIN_UP_SCHEDULE = ((100, 1), (2_000, 20), (300_000, 1_000))


def spin_up(params: torch.Tensor, forcing: Forcing, schedule=SPIN_UP_SCHEDULE,
            model: CLM5 | None = None) -> Trajectory:
    """Spin the model up from bare soil with implicit Euler steps that grow with time (float64).

    ``params``: physical values ``[batch, 21]`` or ``[21]``. ``schedule`` lists ``(years,
    step_years)`` stages run one after the other; the default is 100 years of 1-year steps, then
    2,000 years of 20-year steps, then 300,000 years of 1,000-year steps. Each stage starts from
    where the previous one ended (:meth:`CLM5.simulate`). Returns one :class:`Trajectory` with the
    times (years since the start) and pools ``[batch, T, 7, 20]`` (gC m-3) of every step.
    """
    model = model or CLM5()
    params = torch.as_tensor(params, dtype=torch.float64)
    forcing = forcing.to(dtype=torch.float64)
    times, states, x0, start = [], [], None, 0.0
    for years, step_years in schedule:
        if years <= 0 or step_years <= 0 or step_years > years:
            raise BinnInputError(f"spin-up stage needs 0 < step_years <= years; got years={years}, step={step_years}")
        stage = model.simulate(params, forcing, years=years, x0=x0, dt_days=step_years * DAYS_PER_YEAR)
        repeated = 1 if times else 0  # a later stage's first state is the previous stage's last
        times.append(stage.years[repeated:] + start)
        states.append(stage.pools[:, repeated:])
        x0, start = stage.pools[:, -1], start + float(stage.years[-1])
    return Trajectory(torch.cat(times), torch.cat(states, dim=1))
