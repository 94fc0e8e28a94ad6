"""Synthetic CLM5 soil profiles over the conterminous US, with known parameters.

:func:`make_synthetic` builds a whole dataset from one seed:

1. sites and covariates over the conterminous US (:mod:`binn_lite.data.landscape`);
2. monthly CLM5 forcing derived from the covariates (:func:`clm5_forcing`): soil temperature as a
   damped annual wave, active layer, water, oxygen and nitrogen scalars, litter input from NPP
   split by land cover, and bedrock;
3. 3-10 horizons per profile down to 0.3-2 m (:func:`draw_horizons`);
4. the truth: how the CLM5 parameters depend on the covariates (:func:`~binn_lite.data.truth.draw_truth`);
5. CLM5 run to steady state with the true parameters and observed at the middle of every horizon
   with multiplicative noise (:func:`~binn_lite.data.simulate.simulate_observations`).

Values are rounded to the decimals stored in the files (:mod:`binn_lite.data.schema`) and the
forcing to float32 *before* CLM5 runs, so the dataset in memory equals the files written from it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..clm5 import CLM5, CLM5_PARAMETERS, N_LAYERS, ZISOI, ZSOI
from ..dataset import SiteDataset
from ..errors import BinnInputError
from ..forcing import Forcing
from .landscape import sample_locations, sigmoid, site_covariates
from .schema import OBSERVATION_COLUMNS, SCIREN_COVARIATES, quantize
from .simulate import simulate_observations
from .truth import SCENARIOS, draw_truth

__all__ = ["make_synthetic", "clm5_forcing", "draw_horizons", "LITTER_SPLIT", "LITTER_RETURN"]

MONTHS = np.arange(12)
KELVIN = 273.15
NO_PERMAFROST_ALT = float(ZISOI[-1])  # m: thawed through the whole 20-layer column
_Z = ZSOI.numpy()  # node depths (m)


# ---------------------------------------------------------------------------------------------
# Forcing
# ---------------------------------------------------------------------------------------------
#: share of NPP entering CWD, litter 1 (metabolic), litter 2 (cellulose), litter 3 (lignin)
LITTER_SPLIT = {
    "forest": (0.25, 0.20, 0.35, 0.20),
    "shrubland": (0.10, 0.30, 0.40, 0.20),
    "grassland": (0.00, 0.45, 0.40, 0.15),
    "cropland": (0.00, 0.50, 0.35, 0.15),
}
#: share of NPP that returns to the soil (fire, grazing and harvest remove the rest)
LITTER_RETURN = {"forest": 0.9, "shrubland": 0.75, "grassland": 0.75, "cropland": 0.5}
DAMPING_DEPTH_M = 2.0  # e-folding depth of the annual temperature wave in soil (m)
WATER_SCALAR_MAX = 0.3  # the water scalar w stays below this


def _seasonal(phase_month: float) -> np.ndarray:
    """``cos(2 pi (month - phase) / 12)`` for months 0 (January) .. 11."""
    return np.cos(2 * np.pi * (MONTHS - phase_month) / 12.0)


def clm5_forcing(rng: np.random.Generator, sites: pd.DataFrame, max_obs_depth: np.ndarray) -> dict[str, np.ndarray]:
    """Monthly CLM5 forcing derived from the covariates (float64 arrays, see :data:`FORCING_FIELDS`)."""
    n = len(sites)
    lon, lat = sites["lon"].to_numpy(), sites["lat"].to_numpy()
    bio1, bio12 = sites["bio1"].to_numpy(), sites["bio12"].to_numpy()
    clay = sites["clay"].to_numpy()
    land_cover = sites["land_cover"].to_numpy()
    z = _Z[None, None, :]  # [1, 1, 20]

    # soil temperature (K): annual wave damped and lagged with depth, z_d = 2 m:
    # T(z, m) = T_soil + A exp(-z / z_d) cos(2 pi (m - 6) / 12 - z / z_d); July warmest at the surface.
    continental = np.clip((lon + 122.0) / 6.0, 0.0, 1.0) * np.clip((-70.0 - lon) / 8.0, 0.0, 1.0)
    elevation = sites["elevation"].to_numpy()
    # K, half the annual range: larger inland and northwards, smaller on high mountains
    amplitude = (4.0 + 0.38 * (lat - 25.0) + 4.0 * continental) * (1.0 - 0.1 * elevation / 1000.0)
    # soils are warmer than the air where snow insulates them in winter (not on wind-swept summits)
    snow_offset = 1.0 + 1.0 * ((bio1 < 5.0) & (elevation < 2500.0))
    t_soil = bio1 + snow_offset
    phase = 2 * np.pi * (MONTHS[None, :, None] - 6.0) / 12.0 - z / DAMPING_DEPTH_M
    temperature_c = t_soil[:, None, None] + amplitude[:, None, None] * np.exp(-z / DAMPING_DEPTH_M) * np.cos(phase)
    soil_temperature = temperature_c + KELVIN

    # active layer (m): thaw depth each month = deepest z with T > 0 from the surface down; CLM's
    # altmax is the running maximum from January; a site never frozen at depth has ALT = 8.6 m
    permafrost = t_soil < 0.0
    fine_z = np.linspace(0.0, NO_PERMAFROST_ALT, 861)
    altmax = np.full((n, 12), NO_PERMAFROST_ALT)
    for i in np.flatnonzero(permafrost):
        t_fine = t_soil[i] + amplitude[i] * np.exp(-fine_z / DAMPING_DEPTH_M) * np.cos(
            2 * np.pi * (MONTHS[:, None] - 6.0) / 12.0 - fine_z / DAMPING_DEPTH_M)
        frozen = t_fine <= 0.0
        first_frozen = np.where(frozen.any(axis=1), frozen.argmax(axis=1), len(fine_z) - 1)
        thaw = fine_z[first_frozen]
        altmax[i] = np.maximum.accumulate(thaw)
    altmax = np.where(permafrost[:, None], np.maximum(altmax, 0.0), altmax)
    altmax_lastyear = np.repeat(altmax.max(axis=1, keepdims=True), 12, axis=1)

    # water scalar w in [0, 1]: wetness from precipitation over potential evapotranspiration, drier
    # in summer (more so under the Mediterranean climate of the West coast), drier at the surface,
    # low in frozen soil (little liquid water). Kept below 0.3 so that w * w_scaling (1-4 in the
    # truth) is mostly below 1 and w_scaling stays identifiable.
    pet = 450.0 + 45.0 * np.maximum(bio1, 0.0)
    wet = (bio12 / pet) / (bio12 / pet + 0.6)
    summer_dry = 0.15 + 0.25 * sigmoid(-(lon + 117.0) / 1.5)
    seasonal = 1.0 - summer_dry[:, None] * _seasonal(7.0)[None, :]
    depth_factor = 0.8 + 0.2 * (1.0 - np.exp(-_Z / 0.3))
    w = 0.04 + 0.26 * wet[:, None, None] * seasonal[:, :, None] * depth_factor[None, None, :]
    w = np.where(soil_temperature < KELVIN, 0.3 * w, w)
    water_scalar = np.clip(w * np.exp(0.05 * rng.normal(size=(n, 1, 1))), 0.005, WATER_SCALAR_MAX)

    # oxygen scalar: less oxygen deep in wet clayey soils
    anoxia = 0.5 * wet * np.clip(clay / 50.0, 0.0, 1.0)
    oxygen_scalar = np.clip(1.0 - anoxia[:, None, None] * (1.0 - np.exp(-z / 0.7)), 0.2, 1.0)
    oxygen_scalar = np.broadcast_to(oxygen_scalar, (n, 12, N_LAYERS)).copy()

    # nitrogen scalar (fraction of potential immobilisation): lower where plants compete in the
    # growing season, higher on fertilised cropland, slightly higher at depth
    base = pd.Series({"forest": 0.55, "shrubland": 0.6, "grassland": 0.7, "cropland": 0.85})[land_cover].to_numpy()
    nitrogen = base[:, None, None] - 0.15 * _seasonal(6.0)[None, :, None] + 0.1 * (1.0 - np.exp(-z / 0.5))
    nitrogen_scalar = np.clip(np.broadcast_to(nitrogen, (n, 12, N_LAYERS)), 0.05, 1.0).copy()

    # litter input (gC m-2 per month): NPP split by land cover, litterfall peaking in October
    split = np.array([LITTER_SPLIT[c] for c in land_cover])  # [n, 4]
    back = np.array([LITTER_RETURN[c] for c in land_cover])
    months = 1.0 + 0.6 * _seasonal(9.0)
    months = months / months.sum()
    npp = sites["npp"].to_numpy()
    litter_input = (npp * back)[:, None, None] * months[None, :, None] * split[:, None, :]

    # bedrock (layers above it): from the bedrock depth, but always below the deepest observation
    # (its node and the next one lie above bedrock) so every observation sees soil
    bedrock_depth = sites.attrs["bedrock_depth_m"]
    layers_geology = np.searchsorted(ZISOI.numpy(), bedrock_depth, side="right")
    layers_needed = np.searchsorted(_Z, max_obs_depth, side="left") + 2
    bedrock = np.clip(np.maximum(layers_geology, layers_needed), 1, N_LAYERS).astype(np.int64)

    return {"litter_input": litter_input, "soil_temperature": soil_temperature, "water_scalar": water_scalar,
            "oxygen_scalar": oxygen_scalar, "nitrogen_scalar": nitrogen_scalar, "altmax": altmax,
            "altmax_lastyear": altmax_lastyear, "bedrock": bedrock}


def _float32_exact(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Round floating fields to float32 (how they are stored) and back to float64 for the model."""
    return {k: (v.astype(np.float32).astype(np.float64) if v.dtype.kind == "f" else v) for k, v in arrays.items()}



# ---------------------------------------------------------------------------------------------
# Observation depths
# ---------------------------------------------------------------------------------------------
def draw_horizons(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """3-10 horizons per profile, thinner near the surface, down to 0.3-2 m (long table)."""
    rows = []
    i = 0
    while i < n:
        n_hor = int(rng.integers(3, 11))
        bottom = rng.uniform(0.3, 2.0) if rng.random() < 0.7 else rng.uniform(0.3, 1.0)
        # boundaries b_k = bottom (k / n)^gamma, jittered: horizons thicken with depth
        gamma = rng.uniform(1.3, 1.9)
        k = np.arange(1, n_hor + 1) / n_hor
        jitter = 1.0 + 0.15 * rng.uniform(-1.0, 1.0, n_hor)
        jitter[-1] = 1.0
        bounds = np.sort(bottom * np.clip(k ** gamma * jitter, 0.0, 1.0))
        bounds = quantize(np.concatenate([[0.0], bounds]), 2)
        bounds = np.unique(bounds)  # two boundaries rounded to the same cm: merge horizons
        bounds = bounds[(bounds > 0) | (np.arange(len(bounds)) == 0)]
        if len(bounds) < 4:  # fewer than 3 horizons left after merging: draw this profile again
            continue
        rows.extend((i, t, b) for t, b in zip(bounds[:-1], bounds[1:]))
        i += 1
    table = pd.DataFrame(rows, columns=["site", "top_m", "bottom_m"])
    table["depth_m"] = quantize(0.5 * (table["top_m"] + table["bottom_m"]), 3)
    return table


# ---------------------------------------------------------------------------------------------
# make_synthetic
# ---------------------------------------------------------------------------------------------
def make_synthetic(n_sites: int = 1500, seed: int = 0, scenario: str = "sciren4", noise: float = 0.1) -> SiteDataset:
    """Simulate a CLM5 dataset over the conterminous US with known parameters.

    Parameters
    ----------
    n_sites : number of sites (profiles).
    seed : everything (locations, covariates, forcing, depths, truth drivers, noise) follows from it.
    scenario : ``"sciren4"`` — efolding, tau_s3, fs1s3 and w_scaling each depend on 2 of the 10
        :data:`~binn_lite.data.schema.SCIREN_COVARIATES` through ``c f(a x + b) + d`` (f in x, x^2,
        log2(x + 2.5), 2^x, |x|; a, b, c, d ~ U(-1, 1); x the covariate z-scored over the sites),
        each rescaled to span [0.2, 0.8] of its range; the other 17 at 0.5 (Fan et al. 2025,
        ScIReN). ``"all21"`` — all 21 parameters vary the same way with smooth f (no |x|).
    noise : relative observation noise: ``observed = simulated x exp(noise eps)``, eps ~ N(0, 1)
        (multiplicative, log-normal; 0.1 is about 10 %). 0 gives the noise-free steady state.
        SOC is then rounded to the 0.1 gC m-3 stored in ``observations.csv``.

    Returns
    -------
    SiteDataset with ``sites`` (covariates in :data:`~binn_lite.data.schema.COVARIATES` units),
    ``observations`` (``site_id, depth_m, top_m, bottom_m, soc_gC_m3``), a CLM5
    :class:`~binn_lite.clm5.Forcing` (float64, values exactly representable in float32 as stored)
    and the :class:`~binn_lite.data.truth.Truth`.
    """
    if not (isinstance(n_sites, (int, np.integer)) and n_sites >= 1):
        raise BinnInputError(f"n_sites must be a positive integer; got {n_sites!r}")
    if scenario not in SCENARIOS:
        raise BinnInputError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    streams = np.random.SeedSequence(seed).spawn(6)
    rng_loc, rng_cov, rng_depth, rng_force, rng_truth, rng_noise = (np.random.default_rng(s) for s in streams)

    lon, lat = sample_locations(rng_loc, n_sites)
    sites = site_covariates(rng_cov, lon, lat)
    horizons = draw_horizons(rng_depth, n_sites)
    max_depth = horizons.groupby("site")["depth_m"].max().to_numpy()
    arrays = _float32_exact(clm5_forcing(rng_force, sites, max_depth))
    forcing = Forcing.from_numpy(**arrays)
    truth = draw_truth(rng_truth, sites, scenario)

    params = torch.tensor(truth.params[list(CLM5_PARAMETERS.names)].to_numpy(), dtype=torch.float64)
    site, slot = horizons["site"].to_numpy(), horizons.groupby("site").cumcount().to_numpy()
    depth_table = np.full((n_sites, slot.max() + 1), np.nan)  # [n_sites, max_obs], NaN-padded
    depth_table[site, slot] = horizons["depth_m"].to_numpy()
    observations = simulate_observations(CLM5(), params, forcing, depth_table, sites.index, noise=noise,
                                         seed=rng_noise, coord_name="depth_m", value_name="soc_gC_m3")
    observations.insert(2, "top_m", horizons["top_m"].to_numpy())
    observations.insert(3, "bottom_m", horizons["bottom_m"].to_numpy())
    observations["soc_gC_m3"] = quantize(observations["soc_gC_m3"].to_numpy(), OBSERVATION_COLUMNS["soc_gC_m3"][2])
    sites = sites.copy()
    sites.attrs = {}
    return SiteDataset(sites, observations, forcing, SCIREN_COVARIATES, truth)

