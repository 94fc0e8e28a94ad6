"""The Q10 ecosystem-respiration hybrid: a second process model under the same BINN as CLM5.

The classic hybrid model of Reichstein et al. (2022, *Combining system modeling and machine
learning into hybrid ecosystem modeling*):

    RECO(t) = Rb * Q10 ** ((T(t) - 15) / 10)          [gC m-2 day-1],  T in degC

with the basal respiration ``Rb`` a function of site covariates (the network's job) and ``Q10``
one number for all sites (a *global* parameter of the BINN:
``BINN(head, Q10Respiration(), learn=["rb"], global_params=["q10"])``). It implements the
:class:`binn_lite.process.ProcessModel` interface, which shows that nothing in
:mod:`binn_lite.binn` or :mod:`binn_lite.train` is specific to CLM5.

* :class:`TemperatureForcing` -- daily air temperature per site (degC);
* :class:`Q10Respiration` -- the model: ``forward`` gives RECO per day, ``observe`` picks days;
* :func:`make_q10_synthetic` -- a :class:`~binn_lite.dataset.SiteDataset` with a known truth.

The two-pool soil-carbon template to copy for your own model is :mod:`binn_lite.two_pool`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .errors import BinnInputError
from .data.simulate import simulate_observations
from .data.truth import Truth
from .dataset import SiteDataset
from .parameters import Parameter, ParameterTable
from .process import ProcessModel, site_index

__all__ = [
    "Q10_PARAMETERS", "REFERENCE_TEMPERATURE_C", "TemperatureForcing", "Q10Respiration",
    "make_q10_synthetic", "Q10_COVARIATES",
]

REFERENCE_TEMPERATURE_C = 15.0  # degC, where RECO = Rb
_AIR_TEMPERATURE_RANGE_C = (-70.0, 60.0)

Q10_PARAMETERS = ParameterTable([
    Parameter("rb", 0.0, 10.0, "gC m-2 day-1", "basal ecosystem respiration at 15 degC", 5.0),
    Parameter("q10", 1.0, 4.0, "-", "respiration increase per 10 degC warming", 2.5),
])


@dataclass
class TemperatureForcing:
    """Daily air temperature of each site, ``temperature`` Tensor [n_sites, n_days] in degC.

    Supports what training needs: ``len``, ``forcing[index]`` (sites) and ``.to(device, dtype)``.
    Built with a check: 2-D, finite, within -70..60 degC (a kelvin series is caught with a hint).
    """

    temperature: torch.Tensor

    def __post_init__(self) -> None:
        t = torch.as_tensor(self.temperature)
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        if t.ndim != 2:
            raise BinnInputError(f"temperature must have shape [n_sites, n_days]; got {tuple(t.shape)}")
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            site = int((~finite).any(dim=1).nonzero()[0, 0])
            raise BinnInputError(f"temperature: non-finite value at site {site}")
        low, high = _AIR_TEMPERATURE_RANGE_C
        bad = (t < low) | (t > high)
        if bool(bad.any()):
            site = int(bad.any(dim=1).nonzero()[0, 0])
            hint = " - it looks like kelvin; subtract 273.15" if float(t[site].min()) > 150 else ""
            raise BinnInputError(
                f"temperature must be in degC ({low:g} to {high:g}); site {site} has values from "
                f"{float(t[site].min()):.1f} to {float(t[site].max()):.1f}{hint}"
            )
        self.temperature = t

    @classmethod
    def _trusted(cls, temperature: torch.Tensor) -> "TemperatureForcing":
        obj = cls.__new__(cls)
        obj.temperature = temperature
        return obj

    def __len__(self) -> int:
        return int(self.temperature.shape[0])

    def __getitem__(self, index: Any) -> "TemperatureForcing":
        return self._trusted(self.temperature[site_index(index, self.temperature.device)])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "TemperatureForcing":
        if isinstance(device, torch.dtype):  # forcing.to(torch.float32), as with a tensor
            device, dtype = None, device
        return self._trusted(self.temperature.to(device=device, dtype=dtype))

    @property
    def n_days(self) -> int:
        return int(self.temperature.shape[1])

    def __repr__(self) -> str:
        return f"TemperatureForcing({len(self)} sites, {self.n_days} days)"


class Q10Respiration(ProcessModel):
    """``RECO = rb * q10 ** ((T - 15) / 10)`` for every day of the forcing.

    ``forward(params [batch, 2], forcing)`` gives RECO [batch, n_days] in gC m-2 day-1.
    ``observe(prediction, coords)``: ``coords`` are day numbers (0 .. n_days - 1, NaN padding),
    the prediction is read on those days.
    """

    parameter_table = Q10_PARAMETERS
    most_influential = ("rb",)

    def forward(self, params: torch.Tensor, forcing: TemperatureForcing) -> torch.Tensor:
        self.check_params(params)
        if len(forcing) != params.shape[0]:
            raise BinnInputError(f"parameters are for {params.shape[0]} sites but the forcing has {len(forcing)}")
        p = self.parameter_table.as_dict(params)
        temperature = forcing.temperature.to(device=params.device, dtype=params.dtype)
        return p["rb"][:, None] * p["q10"][:, None] ** ((temperature - REFERENCE_TEMPERATURE_C) / 10.0)

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        coords = coords.to(device=prediction.device)
        missing = torch.isnan(coords)
        day = torch.where(missing, torch.zeros_like(coords), coords)
        n_days = prediction.shape[1]
        bad = (day != torch.round(day)) | (day < 0) | (day > n_days - 1)
        if bool(bad.any()):
            site, k = (int(i) for i in bad.nonzero()[0])
            raise BinnInputError(
                f"observation day must be an integer in 0..{n_days - 1}; site {site} has {float(coords[site, k])}"
            )
        values = torch.gather(prediction, 1, day.long())
        return torch.where(missing, torch.full_like(values, float("nan")), values)


#: covariates of :func:`make_q10_synthetic`; Rb depends on the first two only
Q10_COVARIATES = ("leaf_area_index", "soil_moisture", "mean_temperature", "elevation")


def make_q10_synthetic(n_sites: int = 300, *, q10: float = 1.5, n_days: int = 365, obs_per_site: int = 40,
                       noise: float = 0.05, seed: int = 0) -> SiteDataset:
    """A synthetic ecosystem-respiration dataset with known ``rb`` per site and one global ``q10``.

    * covariates (:data:`Q10_COVARIATES`): leaf area index (m2 m-2, 0.5-6), soil moisture
      (m3 m-3, 0.05-0.45), mean annual temperature (degC, -5-25) and elevation (km, 0-3);
    * truth: ``rb`` depends on leaf area index (linear) and soil moisture (``log2(x + 2.5)`` of the
      z-scored value) through the relationship family of :class:`~binn_lite.data.truth.Truth`, rescaled
      to [0.1, 0.7] of its range (1-7 gC m-2 day-1); ``q10`` is the same everywhere;
    * forcing: daily temperature, the site's mean plus a seasonal cycle (amplitude 4-14 degC) and
      day-to-day noise (sd 2 degC);
    * observations: RECO on ``obs_per_site`` random days per site (coordinate ``day``, value
      ``reco_gC_m2_day``) with multiplicative log-normal noise of sd ``noise``.
    """
    if n_sites < 2 or n_days < 2 or not 1 <= obs_per_site <= n_days:
        raise BinnInputError(f"need n_sites >= 2, n_days >= 2 and 1 <= obs_per_site <= n_days; got "
                         f"{n_sites}, {n_days}, {obs_per_site}")
    q10_range = Q10_PARAMETERS["q10"]
    if not q10_range.low < q10 < q10_range.high:
        raise BinnInputError(f"q10 must lie in ({q10_range.low}, {q10_range.high}); got {q10}")
    if noise < 0:
        raise BinnInputError(f"noise must be >= 0; got {noise}")
    rng = np.random.default_rng(seed)
    site_ids = pd.Index([f"q10-{i:04d}" for i in range(n_sites)], name="site_id")
    sites = pd.DataFrame({
        "lon": rng.uniform(-125, -65, n_sites), "lat": rng.uniform(25, 50, n_sites),
        "leaf_area_index": rng.uniform(0.5, 6.0, n_sites), "soil_moisture": rng.uniform(0.05, 0.45, n_sites),
        "mean_temperature": rng.uniform(-5.0, 25.0, n_sites), "elevation": rng.uniform(0.0, 3.0, n_sites),
    }, index=site_ids)

    def term(covariate: str, f: str, a: float) -> dict[str, Any]:
        values = sites[covariate].to_numpy()
        return {"covariate": covariate, "f": f, "a": a, "b": 0.0, "c": 1.0, "d": 0.0,
                "mean": float(values.mean()), "std": float(values.std())}

    terms = [term("leaf_area_index", "x", 0.8), term("soil_moisture", "log2(x+2.5)", 0.9)]
    g = sum(Truth.term_value(t, sites[t["covariate"]].to_numpy()) for t in terms)
    rb_range = Q10_PARAMETERS["rb"]
    low, high = {"rb": rb_range.low, "q10": q10_range.low}, {"rb": rb_range.high, "q10": q10_range.high}
    rescaling = {"rb": {"g_min": float(g.min()), "g_max": float(g.max()), "u_min": 0.1, "u_max": 0.7}}
    q10_unit = (q10 - q10_range.low) / (q10_range.high - q10_range.low)
    rb_unit = 0.1 + 0.6 * (g - g.min()) / (g.max() - g.min())
    params = pd.DataFrame({"rb": rb_range.low + rb_unit * (rb_range.high - rb_range.low),
                           "q10": np.full(n_sites, float(q10))}, index=site_ids)
    truth = Truth("q10", params, {"rb": terms}, rescaling, {"q10": q10_unit}, low, high)

    day = np.arange(n_days)
    amplitude = rng.uniform(4.0, 14.0, (n_sites, 1))
    temperature = (sites["mean_temperature"].to_numpy()[:, None]
                   - amplitude * np.cos(2 * np.pi * (day[None, :] - 15) / n_days)
                   + rng.normal(0.0, 2.0, (n_sites, n_days)))
    forcing = TemperatureForcing(torch.from_numpy(temperature))
    obs_days = np.sort(np.stack([rng.choice(n_days, obs_per_site, replace=False) for _ in range(n_sites)]), axis=1)
    observations = simulate_observations(Q10Respiration(), torch.tensor(params.to_numpy()), forcing,
                                         obs_days.astype(float), site_ids, noise=noise, seed=rng,
                                         coord_name="day", value_name="reco_gC_m2_day")
    return SiteDataset(sites, observations, forcing, Q10_COVARIATES, truth,
                       coord_name="day", value_name="reco_gC_m2_day")
