"""Example data with known truth, and reading your own soil profiles.

Three ways to get a :class:`~binn_lite.dataset.SiteDataset` for the CLM5 model:

* :func:`make_synthetic` — simulate sites over the conterminous US with plausible covariates and
  forcing, prescribe how the CLM5 parameters depend on the covariates (the *truth*), run CLM5 to
  steady state and observe SOC at realistic horizon depths with multiplicative noise;
* :func:`load_example` — the bundled example (1,500 sites, scenario ``"sciren4"``), the same
  numbers as ``make_synthetic(**EXAMPLE_SETTINGS)``, read from open files (CSV, NPZ, JSON);
* :func:`read_dataset` — your own profiles from a site table, a long observation table and the
  forcing, checked thoroughly (errors name the file, column, site and value).

Regenerate the bundled files with ``python -m binn_lite.data --regenerate`` (bit for bit).

The synthetic world, in short
-----------------------------
Sites are drawn uniformly over the box lon -124.8..-67.0, lat 24.5..49.4 and kept if inside a
crude 70-point outline of the conterminous US (:data:`CONUS_OUTLINE`; the Great Lakes count as
land). Covariates combine large-scale patterns with smooth random fields (sums of random cosine
waves, a few hundred km long), so neighbouring sites are alike:

* elevation: Rocky Mountains and Great Basin high, plains ramping down to the east, Appalachians;
* BIO1 (mean annual air temperature): warm south, cool north, -5 K per km of altitude, mild Pacific
  coast;
* BIO12 (annual precipitation): wet east and south-east, very wet Pacific north-west coast, dry
  south-west and Great Basin, more rain on high mountains;
* soil texture: sand, silt and clay as a softmax of smooth fields (so clay + sand < 100 %), sandy
  south-east coastal plain and deserts, loess (silt) in the Midwest;
* bulk density, wilting point, CEC from texture; pH acidic where wet, alkaline where dry;
* NPP from the Miami model (Lieth 1975) of temperature and precipitation; land cover from climate
  (forest where wet, shrubland where dry, grassland between, cropland in the corn belt);
  vegetation carbon = NPP x a residence time of the land cover.
"""
from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import warnings
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL, N_LAYERS, ZISOI, ZSOI, Forcing, FORCING_FIELDS
from .dataset import TRUTH_FUNCTIONS, SiteDataset, Truth

__all__ = [
    "SCIREN_COVARIATES", "COVARIATES", "LAND_COVER_CLASSES", "SCENARIOS", "CONUS_BOUNDS", "CONUS_OUTLINE",
    "EXAMPLE_SETTINGS", "EXAMPLE_FILES", "make_synthetic", "load_example", "read_dataset", "save_dataset",
    "example_dir", "regenerate_example",
]

# ---------------------------------------------------------------------------------------------
# Names, units, settings
# ---------------------------------------------------------------------------------------------
#: the ten covariates of the ScIReN relationship-retrieval test (network inputs)
SCIREN_COVARIATES = ("bio1", "bio12", "clay", "sand", "bulk_density", "wilting_point",
                     "ph", "cec", "npp", "veg_carbon")

#: site-table columns: name -> (unit, meaning, decimals stored in the CSV)
COVARIATES: dict[str, tuple[str, str, int]] = {
    "lon": ("degrees east", "longitude", 4),
    "lat": ("degrees north", "latitude", 4),
    "elevation": ("m", "elevation above sea level", 1),
    "bio1": ("degC", "BIO1, mean annual air temperature", 3),
    "bio12": ("mm yr-1", "BIO12, annual precipitation", 1),
    "clay": ("%", "clay content of the fine earth (mass)", 2),
    "sand": ("%", "sand content of the fine earth (mass)", 2),
    "bulk_density": ("g cm-3", "bulk density of the fine earth", 4),
    "wilting_point": ("m3 m-3", "volumetric water content at -1.5 MPa (wilting point)", 4),
    "ph": ("-", "pH in water", 3),
    "cec": ("cmol(+) kg-1", "cation exchange capacity", 3),
    "npp": ("gC m-2 yr-1", "net primary production", 2),
    "veg_carbon": ("gC m-2", "vegetation carbon", 1),
    "land_cover": ("class", "land cover: forest, shrubland, grassland or cropland", 0),
}
LAND_COVER_CLASSES = ("forest", "shrubland", "grassland", "cropland")
SCENARIOS = ("sciren4", "all21")

#: bounding box of the conterminous US (degrees)
CONUS_BOUNDS = {"lon": (-124.8, -67.0), "lat": (24.5, 49.4)}

#: a crude outline of the conterminous US (lon, lat), clockwise from Cape Flattery; only used to
#: keep synthetic sites off the ocean (the Great Lakes count as land)
CONUS_OUTLINE = np.array([
    (-124.7, 48.4), (-123.0, 49.0), (-95.2, 49.0), (-89.6, 48.0), (-84.6, 46.5), (-82.4, 45.3),
    (-82.5, 42.6), (-79.0, 42.9), (-76.3, 44.2), (-75.0, 45.0), (-71.5, 45.0), (-70.2, 46.4),
    (-69.2, 47.4), (-67.8, 47.1), (-67.8, 45.7), (-67.0, 44.8), (-70.2, 43.6), (-70.6, 42.6),
    (-70.0, 41.8), (-71.5, 41.3), (-74.0, 40.6), (-74.0, 39.7), (-74.9, 38.9), (-75.4, 38.4),
    (-76.0, 36.9), (-75.5, 35.3), (-76.5, 34.6), (-78.0, 33.9), (-79.2, 33.2), (-81.0, 32.0),
    (-81.4, 30.4), (-80.6, 28.4), (-80.0, 26.8), (-80.4, 25.2), (-81.1, 25.1), (-81.8, 26.2),
    (-82.7, 27.8), (-82.8, 29.0), (-84.3, 30.0), (-86.0, 30.4), (-88.0, 30.4), (-89.4, 30.2),
    (-89.2, 29.2), (-90.5, 29.1), (-92.0, 29.6), (-94.0, 29.6), (-94.8, 29.3), (-96.5, 28.1),
    (-97.2, 27.0), (-97.2, 25.9), (-99.1, 26.4), (-99.5, 27.5), (-101.0, 29.5), (-102.5, 29.8),
    (-103.2, 29.0), (-104.5, 29.6), (-106.5, 31.8), (-108.2, 31.8), (-108.2, 31.33),
    (-111.1, 31.33), (-114.8, 32.5), (-117.1, 32.5), (-117.3, 33.2), (-118.4, 33.8),
    (-120.6, 34.6), (-121.9, 36.6), (-122.5, 37.8), (-123.8, 39.8), (-124.4, 40.4),
    (-124.2, 42.0), (-124.1, 43.5), (-124.0, 46.2),
])

#: settings of the bundled example (``load_example()`` equals ``make_synthetic(**EXAMPLE_SETTINGS)``)
EXAMPLE_SETTINGS = {"n_sites": 1500, "seed": 2025, "scenario": "sciren4", "noise": 0.1}
#: the bundled files
EXAMPLE_FILES = ("sites.csv", "observations.csv", "forcing.npz", "truth_params.csv", "truth.json")

#: observation columns (depth of a sample = middle of its horizon)
OBSERVATION_COLUMNS: dict[str, tuple[str, str, int]] = {
    "site_id": ("-", "site identifier (matches the site table)", 0),
    "depth_m": ("m", "depth of the sample: middle of the horizon", 3),
    "top_m": ("m", "top of the horizon", 2),
    "bottom_m": ("m", "bottom of the horizon", 2),
    "soc_gC_m3": ("gC m-3", "soil organic carbon density", 1),
}
TRUTH_DIGITS = 10  # significant digits of the stored true parameters
MONTHS = np.arange(12)
KELVIN = 273.15
NO_PERMAFROST_ALT = float(ZISOI[-1])  # m: thawed through the whole 20-layer column
MAX_DEPTH_M = 10.0  # m, deeper observations are rejected by read_dataset (centimetres?)

_Z = ZSOI.numpy()  # node depths (m)


# ---------------------------------------------------------------------------------------------
# Deterministic number formatting (stored files must be identical on every regeneration)
# ---------------------------------------------------------------------------------------------
def _quantize(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round to ``decimals`` decimal places through the decimal text, so the CSV round-trips exactly."""
    x = np.asarray(x, dtype=np.float64)
    text = np.char.mod(f"%.{decimals}f", x.reshape(-1))
    return text.astype(np.float64).reshape(x.shape)


def _significant(x: np.ndarray, digits: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    text = np.char.mod(f"%.{digits}g", x.reshape(-1))
    return text.astype(np.float64).reshape(x.shape)


# ---------------------------------------------------------------------------------------------
# Locations and smooth random fields
# ---------------------------------------------------------------------------------------------
def _inside(lon: np.ndarray, lat: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Ray casting: is each point inside the polygon (vertices (lon, lat), not closed)?"""
    inside = np.zeros(lon.shape, dtype=bool)
    x0, y0 = polygon[-1]
    for x1, y1 in polygon:
        crosses = (y1 > lat) != (y0 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (lat - y1) * (x0 - x1) / (y0 - y1)
        inside ^= crosses & (lon < x_cross)
        x0, y0 = x1, y1
    return inside


def _sample_locations(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform over the land part (crude outline) of the conterminous-US box."""
    lon_lo, lon_hi = CONUS_BOUNDS["lon"]
    lat_lo, lat_hi = CONUS_BOUNDS["lat"]
    lons, lats, have = [], [], 0
    while have < n:
        lon = rng.uniform(lon_lo, lon_hi, 2 * n)
        lat = rng.uniform(lat_lo, lat_hi, 2 * n)
        keep = _inside(lon, lat, CONUS_OUTLINE)
        lons.append(lon[keep])
        lats.append(lat[keep])
        have += int(keep.sum())
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


class _SmoothField:
    """A smooth random field over (lon, lat): ``sqrt(2 / n) sum_i cos(k_i . x + phi_i)``.

    Random Fourier features of a Gaussian process with length scale ``length_deg`` degrees: unit
    variance, nearby sites alike.
    """

    def __init__(self, rng: np.random.Generator, length_deg: float, n_waves: int = 24):
        self.k = rng.normal(0.0, 1.0 / length_deg, size=(n_waves, 2))
        self.phase = rng.uniform(0.0, 2 * np.pi, size=n_waves)

    def __call__(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        arg = lon[:, None] * self.k[None, :, 0] + lat[:, None] * self.k[None, :, 1] + self.phase
        return np.sqrt(2.0 / len(self.phase)) * np.cos(arg).sum(axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bump(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-(((x - centre) / width) ** 2))


# ---------------------------------------------------------------------------------------------
# Covariates
# ---------------------------------------------------------------------------------------------
def _covariates(rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Site table with plausible, spatially coherent covariates (units in :data:`COVARIATES`)."""
    field = {name: _SmoothField(rng, length)(lon, lat) for name, length in [
        ("elevation", 2.0), ("temperature", 4.0), ("precipitation", 3.0), ("sand", 2.5), ("silt", 2.5),
        ("clay", 2.5), ("bulk_density", 3.0), ("ph", 3.0), ("organic", 3.0), ("land_cover", 2.0),
        ("npp", 3.0), ("bedrock", 2.0)]}
    n = len(lon)

    # elevation (m): plains ramp up westwards to the Rockies; Great Basin plateau; coastal ranges;
    # Appalachians along the line from Alabama to Maine
    plains = 200.0 + 1400.0 * np.clip((lon + 97.0) / (-105.0 + 97.0), 0.0, 1.0)
    west = lon < -105.0
    rockies = 900.0 * _bump(lon, -107.5, 2.5) * _bump(lat, 40.0, 7.0)
    basin = np.where(lon < -112.0, 1500.0 * _sigmoid(lon + 119.0), 1700.0)
    sierra_cascade = 1300.0 * _bump(lon, -120.8 + 0.08 * (lat - 38.0), 0.9) * _sigmoid((lat - 35.0) / 1.0)
    coast = np.clip((lon + 124.8) / 2.0, 0.0, 1.0)
    elevation = np.where(west, basin * coast + rockies, plains + rockies)
    elevation = elevation + sierra_cascade
    appalachian_axis = lat - (34.0 + (lon + 85.5) * (44.0 - 34.0) / (-72.5 + 85.5))
    elevation += 650.0 * _bump(appalachian_axis, 0.0, 1.2) * ((lon > -86.5) & (lon < -71.0))
    elevation *= np.exp(0.15 * field["elevation"])
    elevation = np.clip(elevation + 60.0 * field["elevation"], 0.0, 4000.0)

    # BIO1 (degC): latitude gradient, warmer west of 100 W at equal sea level, mild Pacific coast,
    # lapse rate 5 K km-1 (broad plateaus cool less than the free-air 6.5 K km-1)
    maritime = 4.0 * np.exp(-(lon + 124.8) / 2.5) * np.clip((lat - 35.0) / 10.0, 0.0, 1.0)
    bio1 = (24.5 - 0.75 * (lat - 25.0) + 2.0 * _sigmoid(-(lon + 100.0) / 3.0) + maritime
            - 5.0e-3 * elevation + 0.8 * field["temperature"])

    # BIO12 (mm yr-1): humid east, wettest in the south-east; Pacific north-west coast; dry south-west
    east = 250.0 + 1050.0 * _sigmoid((lon + 99.0) / 3.5) * (1.0 + 0.25 * np.clip((36.0 - lat) / 10.0, -1.0, 1.0))
    pacific_nw = 2000.0 * np.exp(-(((lon + 124.8) / 2.0) ** 2)) * _sigmoid((lat - 40.5) / 1.5)
    california = 600.0 * np.exp(-(((lon + 123.5) / 2.0) ** 2)) * _sigmoid((lat - 34.5) / 1.5)
    northern_rockies = 300.0 * _bump(lon, -115.0, 3.0) * _sigmoid((lat - 43.0) / 2.0)
    mountains = 0.35 * np.maximum(elevation - 1500.0, 0.0)
    bio12 = (east + pacific_nw + california + northern_rockies + mountains) * np.exp(0.15 * field["precipitation"])
    bio12 = np.clip(bio12, 120.0, 4000.0)

    # aridity: precipitation over a rough potential evapotranspiration (mm yr-1)
    pet = 450.0 + 45.0 * np.maximum(bio1, 0.0)
    wetness = bio12 / pet
    dry = np.clip(1.0 - wetness, 0.0, 1.0)

    # texture (%): softmax of smooth fields, so sand + silt + clay = 100
    coastal_plain = (_bump(lat, 31.0, 3.0) * (lon > -92.0)) + _bump(lat, 28.0, 2.0) * _bump(lon, -81.5, 2.0)
    loess = _bump(lon, -91.0, 4.0) * _bump(lat, 41.0, 3.0)
    log_sand = 0.2 + 0.5 * field["sand"] + 0.6 * dry + 0.8 * coastal_plain + 0.4 * (elevation > 1800.0)
    log_silt = 0.1 + 0.35 * field["silt"] + 0.6 * loess
    log_clay = -0.3 + 0.45 * field["clay"] + 0.4 * _bump(lat, 32.0, 4.0) * (lon > -100.0) * (lon < -88.0)
    logits = np.stack([log_sand, log_silt, log_clay], axis=1)
    share = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sand, silt, clay = 100.0 * share.T

    # organic matter indicator: cool and wet soils hold more organic matter
    organic = np.clip(0.5 * _sigmoid((wetness - 1.0) / 0.3) + 0.3 * _sigmoid((8.0 - bio1) / 3.0)
                      + 0.1 * field["organic"], 0.0, 1.0)
    bulk_density = np.clip(1.35 + 0.0035 * (sand - 40.0) - 0.002 * (clay - 20.0) - 0.25 * organic
                           + 0.06 * field["bulk_density"], 0.85, 1.8)
    # wilting point (m3 m-3): mostly clay, some silt and organic matter (pedotransfer-like)
    wilting_point = np.clip(0.015 + 0.0042 * clay + 0.0006 * silt + 0.04 * organic
                            + 0.025 * rng.normal(size=n), 0.01, 0.4)
    ph = np.clip(8.1 - 2.4 * _sigmoid((wetness - 0.85) / 0.25) - 0.3 * organic + 0.35 * field["ph"], 4.0, 9.0)
    cec = np.clip(2.0 + 0.45 * clay + 0.06 * silt + 12.0 * organic + 2.0 * (ph > 7.5)
                  + 2.5 * rng.normal(size=n), 1.0, 60.0)

    # NPP (gC m-2 yr-1): Miami model (g dry matter) x 0.47 gC per g dry matter
    npp_t = 3000.0 / (1.0 + np.exp(1.315 - 0.119 * bio1))
    npp_p = 3000.0 * (1.0 - np.exp(-0.000664 * bio12))
    npp = 0.47 * np.minimum(npp_t, npp_p) * np.exp(0.12 * field["npp"])

    # land cover from climate, with smooth random boundaries
    score = wetness + 0.25 * field["land_cover"]
    land_cover = np.where(score > 0.95, "forest", np.where(score < 0.45, "shrubland", "grassland"))
    corn_belt = (_bump(lon, -91.0, 6.0) * _bump(lat, 41.5, 3.0) > 0.45) & (wetness > 0.6) & (field["land_cover"] < 0.6)
    land_cover = np.where(corn_belt, "cropland", land_cover)
    npp = npp * np.where(land_cover == "cropland", 1.1, 1.0)
    residence_years = pd.Series({"forest": 18.0, "shrubland": 5.0, "grassland": 1.2, "cropland": 0.7})
    veg_carbon = npp * residence_years[land_cover].to_numpy() * np.exp(0.25 * rng.normal(size=n))

    values = {"lon": lon, "lat": lat, "elevation": elevation, "bio1": bio1, "bio12": bio12, "clay": clay,
              "sand": sand, "bulk_density": bulk_density, "wilting_point": wilting_point, "ph": ph,
              "cec": cec, "npp": npp, "veg_carbon": veg_carbon}
    table = pd.DataFrame({name: _quantize(v, COVARIATES[name][2]) for name, v in values.items()})
    table["land_cover"] = [str(c) for c in land_cover]  # pandas' default text dtype, as read_csv gives
    table.index = pd.Index([f"S{i + 1:05d}" for i in range(n)], name="site_id")
    # bedrock depth (m): shallow under mountains, beyond the model column elsewhere; stored with
    # the forcing, not as a covariate
    table.attrs["bedrock_depth_m"] = np.where(
        elevation > 1500.0, 1.5 + 3.0 * _sigmoid(1.5 * field["bedrock"]), 6.0 + 6.0 * _sigmoid(field["bedrock"])
    )
    return table


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


def _forcing(rng: np.random.Generator, sites: pd.DataFrame, max_obs_depth: np.ndarray) -> dict[str, np.ndarray]:
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
    summer_dry = 0.15 + 0.25 * _sigmoid(-(lon + 117.0) / 1.5)
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
def _horizons(rng: np.random.Generator, n: int) -> pd.DataFrame:
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
        bounds = _quantize(np.concatenate([[0.0], bounds]), 2)
        bounds = np.unique(bounds)  # two boundaries rounded to the same cm: merge horizons
        bounds = bounds[(bounds > 0) | (np.arange(len(bounds)) == 0)]
        if len(bounds) < 4:  # fewer than 3 horizons left after merging: draw this profile again
            continue
        rows.extend((i, t, b) for t, b in zip(bounds[:-1], bounds[1:]))
        i += 1
    table = pd.DataFrame(rows, columns=["site", "top_m", "bottom_m"])
    table["depth_m"] = _quantize(0.5 * (table["top_m"] + table["bottom_m"]), 3)
    return table


# ---------------------------------------------------------------------------------------------
# Truth scenarios
# ---------------------------------------------------------------------------------------------
SMOOTH_FUNCTIONS = ("x", "x^2", "log2(x+2.5)", "2^x")  # for "all21" (|x| has a kink)
UNIT_SPAN = (0.2, 0.8)  # varying parameters span this part of their range over the sites


def _draw_relationship(rng: np.random.Generator, param: str, z: pd.DataFrame, stats: pd.DataFrame,
                       functions: Sequence[str], n_drivers: int = 2) -> tuple[list[dict], dict]:
    """Draw drivers and ``c f(a x + b) + d`` terms for one parameter (x = z-scored covariate).

    A draw is rejected (and drawn again) if a ``log2`` argument is not positive at some site, if one
    driver has less than a fifth of the influence (standard deviation over sites) of the other, or
    if the rescaled parameter barely varies (standard deviation of u below 0.08, most sites on one
    value): such draws would make a relationship invisible rather than hard to find.
    """
    names = list(z.columns)
    for _ in range(1000):
        drivers = rng.choice(len(names), size=n_drivers, replace=False)
        terms, parts = [], []
        for j in drivers:
            f = str(functions[int(rng.integers(len(functions)))])
            a, b, c, d = (float(v) for v in rng.uniform(-1.0, 1.0, 4))
            covariate = names[j]
            terms.append({"covariate": covariate, "f": f, "a": a, "b": b, "c": c, "d": d,
                          "mean": float(stats.loc[covariate, "mean"]), "std": float(stats.loc[covariate, "std"])})
            parts.append(c * TRUTH_FUNCTIONS[f](a * z[covariate].to_numpy() + b) + d)
        parts = np.array(parts)
        if not np.all(np.isfinite(parts)):
            continue
        spread = parts.std(axis=1)
        if spread.min() < 0.2 * spread.max():
            continue
        g = parts.sum(axis=0)
        g_min, g_max = float(g.min()), float(g.max())
        if not g_max > g_min:
            continue
        u = UNIT_SPAN[0] + (UNIT_SPAN[1] - UNIT_SPAN[0]) * (g - g_min) / (g_max - g_min)
        if u.std() < 0.08:
            continue
        return terms, {"g_min": g_min, "g_max": g_max, "u_min": UNIT_SPAN[0], "u_max": UNIT_SPAN[1]}
    raise RuntimeError(f"could not draw a usable relationship for {param!r}")  # pragma: no cover


def _make_truth(rng: np.random.Generator, sites: pd.DataFrame, scenario: str) -> Truth:
    """Truth of a scenario: relationships, rescaling and per-site physical parameters."""
    covariates = sites[list(SCIREN_COVARIATES)]
    stats = pd.DataFrame({"mean": covariates.mean(), "std": covariates.std(ddof=0)})
    z = (covariates - stats["mean"]) / stats["std"]
    if scenario == "sciren4":
        varying, functions = MOST_INFLUENTIAL, tuple(TRUTH_FUNCTIONS)
    elif scenario == "all21":
        varying, functions = CLM5_PARAMETERS.names, SMOOTH_FUNCTIONS
    else:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    relationships, rescaling = {}, {}
    for param in varying:
        relationships[param], rescaling[param] = _draw_relationship(rng, param, z, stats, functions)
    fixed = {p: 0.5 for p in CLM5_PARAMETERS.names if p not in relationships}
    low = {p.name: p.low for p in CLM5_PARAMETERS}
    high = {p.name: p.high for p in CLM5_PARAMETERS}
    shell = Truth(scenario, pd.DataFrame(index=sites.index, columns=list(CLM5_PARAMETERS.names), dtype=float),
                  relationships, rescaling, fixed, low, high)
    unit = shell.evaluate(sites)[list(CLM5_PARAMETERS.names)]
    physical = unit * (pd.Series(high) - pd.Series(low))[unit.columns] + pd.Series(low)[unit.columns]
    physical = physical.apply(lambda col: _significant(col.to_numpy(), TRUTH_DIGITS), raw=False)
    physical.index.name = "site_id"
    return Truth(scenario, physical, relationships, rescaling, fixed, low, high)


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
        :data:`SCIREN_COVARIATES` through ``c f(a x + b) + d`` (f in x, x^2, log2(x + 2.5), 2^x, |x|;
        a, b, c, d ~ U(-1, 1); x the covariate z-scored over the sites), each rescaled to span
        [0.2, 0.8] of its range; the other 17 at 0.5 (Fan et al. 2025, ScIReN). ``"all21"`` — all
        21 parameters vary the same way with smooth f (no |x|).
    noise : relative observation noise: ``observed = simulated x exp(noise eps)``, eps ~ N(0, 1)
        (multiplicative, log-normal; 0.1 is about 10 %). 0 gives the noise-free steady state.

    Returns
    -------
    SiteDataset with ``sites`` (covariates in :data:`COVARIATES` units), ``observations``
    (``site_id, depth_m, top_m, bottom_m, soc_gC_m3``), a CLM5 :class:`~binn_lite.clm5.Forcing`
    (float64, values exactly representable in float32 as stored) and the :class:`Truth`.
    """
    if not (isinstance(n_sites, (int, np.integer)) and n_sites >= 1):
        raise ValueError(f"n_sites must be a positive integer; got {n_sites!r}")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a relative standard deviation >= 0; got {noise!r}")
    streams = np.random.SeedSequence(seed).spawn(6)
    rng_loc, rng_cov, rng_depth, rng_force, rng_truth, rng_noise = (np.random.default_rng(s) for s in streams)

    lon, lat = _sample_locations(rng_loc, n_sites)
    sites = _covariates(rng_cov, lon, lat)
    horizons = _horizons(rng_depth, n_sites)
    max_depth = horizons.groupby("site")["depth_m"].max().to_numpy()
    arrays = _float32_exact(_forcing(rng_force, sites, max_depth))
    forcing = Forcing.from_numpy(**arrays)
    truth = _make_truth(rng_truth, sites, scenario)

    params = torch.tensor(truth.params[list(CLM5_PARAMETERS.names)].to_numpy(), dtype=torch.float64)
    site, slot = horizons["site"].to_numpy(), horizons.groupby("site").cumcount().to_numpy()
    depth_table = np.full((n_sites, slot.max() + 1), np.nan)
    depth_table[site, slot] = horizons["depth_m"].to_numpy()
    with torch.no_grad():
        model = CLM5()
        simulated = model.observe(model(params, forcing), torch.from_numpy(depth_table)).numpy()
    values = simulated[site, slot]
    values = values * np.exp(noise * rng_noise.normal(size=values.shape))
    observations = pd.DataFrame({
        "site_id": sites.index.to_numpy()[horizons["site"].to_numpy()],
        "depth_m": horizons["depth_m"].to_numpy(),
        "top_m": horizons["top_m"].to_numpy(),
        "bottom_m": horizons["bottom_m"].to_numpy(),
        "soc_gC_m3": _quantize(values, OBSERVATION_COLUMNS["soc_gC_m3"][2]),
    })
    sites = sites.copy()
    sites.attrs = {}
    return SiteDataset(sites, observations, forcing, SCIREN_COVARIATES, truth)


# ---------------------------------------------------------------------------------------------
# Writing files (deterministic: the same dataset always gives the same bytes)
# ---------------------------------------------------------------------------------------------
def _format_column(values: pd.Series, decimals: int | None) -> pd.Series:
    """Text of a column: fixed decimals for known float columns, 12 significant digits otherwise."""
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
        array = values.to_numpy(dtype=np.float64)
        fmt = f"%.{decimals}f" if decimals is not None else "%.12g"
        if pd.api.types.is_integer_dtype(values):
            fmt = "%d"
        return pd.Series(np.char.mod(fmt, array), index=values.index)
    return values.astype(str)


def _write_csv(frame: pd.DataFrame, path: Path, decimals: Mapping[str, int]) -> None:
    text = pd.DataFrame({c: _format_column(frame[c], decimals.get(c)) for c in frame.columns}, index=frame.index)
    text.to_csv(path, lineterminator="\n")


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Like ``numpy.savez`` (uncompressed) but with fixed zip timestamps, so bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o644 << 16
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def save_dataset(dataset: SiteDataset, directory: str | os.PathLike, forcing_dtype: Any = np.float32,
                 settings: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write a CLM5 dataset as open files in ``directory`` (created if needed).

    Files: ``sites.csv`` (index ``site_id``), ``observations.csv`` (long table), ``forcing.npz``
    (one array per forcing field plus ``site_id``; floating fields stored as ``forcing_dtype``) and,
    with a truth, ``truth_params.csv`` (physical parameters per site) and ``truth.json``
    (relationships; ``settings`` are recorded there too). Known columns are written with the fixed
    decimals of :data:`COVARIATES` / :data:`OBSERVATION_COLUMNS`, other floats with 12 significant
    digits. Returns ``{file name: path}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in EXAMPLE_FILES}
    known = [c for c in COVARIATES if c in dataset.sites.columns]
    sites = dataset.sites[known + [c for c in dataset.sites.columns if c not in known]]
    _write_csv(sites, paths["sites.csv"], {c: v[2] for c, v in COVARIATES.items()})
    obs = dataset.observations
    obs_known = [c for c in OBSERVATION_COLUMNS if c in obs.columns]
    obs = obs[obs_known + [c for c in obs.columns if c not in obs_known]].set_index("site_id")
    _write_csv(obs, paths["observations.csv"], {c: v[2] for c, v in OBSERVATION_COLUMNS.items()})
    arrays = {k: (v.astype(forcing_dtype) if v.dtype.kind == "f" else v) for k, v in dataset.forcing.to_numpy().items()}
    arrays["site_id"] = np.array([str(s) for s in dataset.site_ids])
    _write_npz(paths["forcing.npz"], arrays)
    if dataset.truth is None:
        return {k: v for k, v in paths.items() if not k.startswith("truth")}
    params = dataset.truth.params.copy()
    params.index.name = "site_id"
    text = pd.DataFrame({c: np.char.mod(f"%.{TRUTH_DIGITS}g", params[c].to_numpy(dtype=np.float64))
                         for c in params.columns}, index=params.index)
    text.to_csv(paths["truth_params.csv"], lineterminator="\n")
    record = {"description": "True CLM5 parameters of a synthetic dataset (binn_lite.data.make_synthetic). "
                             "For each varying parameter p: u_p = u_min + (u_max - u_min) (g - g_min) / (g_max - g_min), "
                             "g = sum over its terms of c f(a x + b) + d, x = (covariate - mean) / std; "
                             "physical value = low + u_p (high - low). Fixed parameters: u = fixed[p].",
              **dataset.truth.to_dict()}
    if settings is not None:
        record["settings"] = dict(settings)
    paths["truth.json"].write_text(json.dumps(record, indent=1) + "\n")
    return paths


# ---------------------------------------------------------------------------------------------
# Reading: the bundled example
# ---------------------------------------------------------------------------------------------
def example_dir() -> Path:
    """Folder of the bundled example files: the repository's ``data/``.

    ``pyproject.toml`` installs ``data/`` as the package ``binn_lite.example_data``, so it is found
    both in an editable install (the repository folder) and in a normal install from PyPI or a git
    URL (``site-packages/binn_lite/example_data``).
    """
    return Path(str(resources.files("binn_lite.example_data")))


def _read_truth(params_path: Path, json_path: Path) -> Truth:
    record = json.loads(Path(json_path).read_text())
    params = pd.read_csv(params_path, dtype={"site_id": str}).set_index("site_id")
    return Truth.from_dict(record, params.astype(np.float64))


def load_example() -> SiteDataset:
    """The bundled example: 1,500 sites over the conterminous US, truth scenario ``"sciren4"``.

    Identical to ``make_synthetic(**EXAMPLE_SETTINGS)`` (tested), but read from files in well under
    a second. See ``data/README.md`` for every column and unit.
    """
    directory = example_dir()
    missing = [name for name in EXAMPLE_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"example data missing in {directory}: {', '.join(missing)}; regenerate with "
            f"`python -m binn_lite.data --regenerate`"
        )
    truth = _read_truth(directory / "truth_params.csv", directory / "truth.json")
    return read_dataset(directory / "sites.csv", directory / "observations.csv", directory / "forcing.npz",
                        feature_names=SCIREN_COVARIATES, truth=truth)


def regenerate_example(directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """Generate the example (:data:`EXAMPLE_SETTINGS`) and write it to ``directory``.

    Default: :func:`example_dir`. The files are identical, byte for byte, on every run.
    """
    dataset = make_synthetic(**EXAMPLE_SETTINGS)
    return save_dataset(dataset, example_dir() if directory is None else directory, settings=EXAMPLE_SETTINGS)


# ---------------------------------------------------------------------------------------------
# Reading your own data, with checks
# ---------------------------------------------------------------------------------------------
HORIZON_COLUMNS = ("top_m", "bottom_m")
#: observed SOC whose median is below this (gC m-3) is taken to be in another unit
SOC_MEDIAN_MIN = 200.0
#: SOC above this (gC m-3) is impossible (pure peat holds about 50,000-120,000 gC m-3)
SOC_MAX = 1.0e6


def _source(obj: Any, what: str) -> str:
    return Path(obj).name if isinstance(obj, (str, os.PathLike)) else f"{what} (DataFrame)"


def _read_table(obj: Any, what: str) -> pd.DataFrame:
    """A CSV path or a DataFrame as a DataFrame (CSV cells kept as text; a named index becomes a column)."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no such file {str(path)!r}")
        return pd.read_csv(path, dtype=str, keep_default_na=True, skipinitialspace=True)
    if isinstance(obj, pd.DataFrame):
        frame = obj.copy()
        if frame.index.name is not None:
            frame = frame.reset_index()
        return frame
    raise TypeError(f"{what} must be a CSV path or a pandas DataFrame; got {type(obj).__name__}")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise naming every missing column, with the closest existing name when there is one."""
    have = [str(c) for c in frame.columns]
    problems = []
    for name in columns:
        if name in have:
            continue
        hint = ([c for c in have if c.lower() == name.lower()]
                or difflib.get_close_matches(name, have, n=1, cutoff=0.6)
                or [c for c in have if len(c) >= 3 and (name.lower().startswith(c.lower())
                                                        or c.lower().startswith(name.lower()))])
        problems.append(f"missing column {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if problems:
        raise ValueError(f"{source}: {'; '.join(problems)}. Columns present: {', '.join(have)}")


def _row_label(frame: pd.DataFrame, i: int, is_file: bool, id_column: str) -> str:
    where = f"site {frame[id_column].iloc[i]!r}" if id_column in frame.columns else f"row {i}"
    return where + (f" (line {i + 2})" if is_file else "")


def _numeric(frame: pd.DataFrame, column: str, source: str, is_file: bool, id_column: str,
             allow_nan: bool = False, what: str = "value") -> np.ndarray:
    """Column as float64; raise naming file, column, site and value for text or missing entries."""
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        raise ValueError(f"{source}: column {column!r} holds true/false values, not numbers")
    values = pd.to_numeric(raw, errors="coerce")
    text = raw.notna() & values.isna()
    if text.any():
        i = int(np.flatnonzero(text.to_numpy())[0])
        raise ValueError(f"{source}: column {column!r} has a non-numeric value {raw.iloc[i]!r} at "
                         f"{_row_label(frame, i, is_file, id_column)}")
    array = values.to_numpy(dtype=np.float64)
    if not allow_nan:
        bad = ~np.isfinite(array)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{source}: column {column!r} is missing (NaN or empty) a {what} at "
                             f"{_row_label(frame, i, is_file, id_column)}; {int(bad.sum())} row(s) affected. "
                             f"Fill them or remove those rows")
    return array


def _list(items: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(x) for x in list(items)[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_sites(frame: pd.DataFrame, features: Sequence[str], source: str, is_file: bool,
                 site_id: str) -> pd.DataFrame:
    _require_columns(frame, [site_id, *features], source)
    ids = frame[site_id]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise ValueError(f"{source}: column {site_id!r} is empty at row {i}" + (f" (line {i + 2})" if is_file else ""))
    frame = frame.copy()
    frame[site_id] = ids.astype(str).str.strip()
    duplicated = frame[site_id][frame[site_id].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"{source}: duplicate site id(s) {_list(duplicated)}; every site needs a unique id")
    numeric = [*features] + [c for c in ("lon", "lat", "elevation") if c in frame.columns and c not in features]
    for column in numeric:
        frame[column] = _numeric(frame, column, source, is_file, site_id, what="covariate")
    for column, low, high in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        if column in frame.columns:
            bad = (frame[column] < low) | (frame[column] > high)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(f"{source}: column {column!r} must be in [{low:g}, {high:g}] degrees; "
                                 f"{_row_label(frame, i, is_file, site_id)} has {frame[column].iloc[i]:g}")
    for column in frame.columns:  # other columns: numbers where they look like numbers, text otherwise
        if column in numeric or column == site_id:
            continue
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum():
            frame[column] = converted
    return frame.set_index(site_id)


def _check_observations(frame: pd.DataFrame, source: str, is_file: bool, site_id: str, depth: str, soc: str,
                        check_units: bool) -> pd.DataFrame:
    has_horizons = all(c in frame.columns for c in HORIZON_COLUMNS)
    _require_columns(frame, [site_id, soc] + ([] if has_horizons else [depth]), source)
    frame = frame.copy()
    if frame[site_id].isna().any():
        i = int(np.flatnonzero(frame[site_id].isna().to_numpy())[0])
        raise ValueError(f"{source}: column {site_id!r} is empty at row {i}" + (f" (line {i + 2})" if is_file else ""))
    frame[site_id] = frame[site_id].astype(str).str.strip()
    label = lambda i: _row_label(frame, i, is_file, site_id)  # noqa: E731

    if has_horizons:
        top = _numeric(frame, "top_m", source, is_file, site_id, what="horizon top")
        bottom = _numeric(frame, "bottom_m", source, is_file, site_id, what="horizon bottom")
        for name, values in (("top_m", top), ("bottom_m", bottom)):
            if (values < 0).any():
                i = int(np.flatnonzero(values < 0)[0])
                raise ValueError(f"{source}: negative depth in column {name!r}: {values[i]:g} m at {label(i)}; "
                                 f"depths are positive downwards from the surface")
        thin = bottom <= top
        if thin.any():
            i = int(np.flatnonzero(thin)[0])
            kind = "zero-thickness" if bottom[i] == top[i] else "upside-down"
            raise ValueError(f"{source}: {kind} horizon at {label(i)}: top_m = {top[i]:g} m, bottom_m = "
                             f"{bottom[i]:g} m; bottom must be deeper than top")
        frame["top_m"], frame["bottom_m"] = top, bottom
        if depth not in frame.columns:
            frame[depth] = 0.5 * (top + bottom)
    z = _numeric(frame, depth, source, is_file, site_id, what="depth")
    if (z < 0).any():
        i = int(np.flatnonzero(z < 0)[0])
        raise ValueError(f"{source}: negative depth in column {depth!r}: {z[i]:g} m at {label(i)}; "
                         f"depths are positive downwards from the surface (m)")
    if (z == 0).any():
        i = int(np.flatnonzero(z == 0)[0])
        raise ValueError(f"{source}: depth exactly 0 m (a zero-thickness sample at the surface) in column "
                         f"{depth!r} at {label(i)}; give the middle of the sampled horizon, e.g. 0.05 m for 0-10 cm")
    if (z > MAX_DEPTH_M).any():
        i = int(np.argmax(z))
        raise ValueError(f"{source}: depth {z[i]:g} m in column {depth!r} at {label(i)} is deeper than "
                         f"{MAX_DEPTH_M:g} m; are these centimetres? Divide by 100 to get metres")
    if has_horizons:
        outside = (z < frame["top_m"].to_numpy()) | (z > frame["bottom_m"].to_numpy())
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(f"{source}: depth {z[i]:g} m at {label(i)} lies outside its horizon "
                             f"{frame['top_m'].iloc[i]:g}-{frame['bottom_m'].iloc[i]:g} m")
    frame[depth] = z

    values = _numeric(frame, soc, source, is_file, site_id, what="SOC value")
    if (values < 0).any():
        i = int(np.flatnonzero(values < 0)[0])
        raise ValueError(f"{source}: negative SOC {values[i]:g} in column {soc!r} at {label(i)}")
    if check_units and len(values):
        median = float(np.median(values))
        if median < SOC_MEDIAN_MIN:
            guess = ("percent (g C per 100 g soil): multiply by bulk density (g cm-3) x 10,000"
                     if median < 5.0 else
                     "kg C m-3 (multiply by 1,000) or g C kg-1 (multiply by bulk density in kg m-3)")
            raise ValueError(
                f"{source}: column {soc!r} should be SOC density in g C m-3 (typically 1,000-100,000), but its "
                f"median is {median:.3g}; it looks like {guess}. Pass check_units=False if the values are right"
            )
        if values.max() > SOC_MAX:
            i = int(np.argmax(values))
            raise ValueError(
                f"{source}: SOC {values[i]:.4g} g C m-3 in column {soc!r} at {label(i)} is impossible (over "
                f"{SOC_MAX:,.0f} g C m-3; peat holds about 100,000); is it in mg C m-3 or another unit?"
            )
    frame[soc] = values
    return frame


def _forcing_arrays(forcing: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None, str]:
    """(field arrays, site ids or None, label) from an NPZ path, a Forcing or a dict of arrays."""
    if isinstance(forcing, (str, os.PathLike)):
        path = Path(forcing)
        if not path.is_file():
            raise FileNotFoundError(f"forcing: no such file {str(path)!r}")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        label = path.name
    elif isinstance(forcing, Forcing):
        arrays, label = forcing.to_numpy(), "forcing (Forcing)"
    elif isinstance(forcing, Mapping):
        arrays = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                  for k, v in forcing.items()}
        label = "forcing (dict)"
    else:
        raise TypeError(f"forcing must be an NPZ path, a Forcing or a dict of arrays; got {type(forcing).__name__}")
    ids = arrays.pop("site_id", None)
    unknown = sorted(set(arrays) - set(FORCING_FIELDS))
    if unknown:
        hints = [difflib.get_close_matches(u, list(FORCING_FIELDS), n=1, cutoff=0.6) for u in unknown]
        described = [u + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in zip(unknown, hints)]
        raise ValueError(f"{label}: unknown forcing field(s) {', '.join(described)}; expected {', '.join(FORCING_FIELDS)}")
    missing = [f for f in FORCING_FIELDS if f not in arrays]
    if missing:
        raise ValueError(f"{label}: missing forcing field(s) {', '.join(missing)}")
    return arrays, (None if ids is None else np.array([str(s) for s in ids])), label


def _build_forcing(arrays: dict[str, np.ndarray], ids: np.ndarray | None, label: str, site_ids: pd.Index,
                   source_sites: str) -> Forcing:
    lengths = {name: (a.shape[0] if a.ndim else 0) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{label}: forcing fields have different numbers of sites: {lengths}")
    n = next(iter(lengths.values()))
    if ids is not None:
        if len(ids) != n:
            raise ValueError(f"{label}: 'site_id' has {len(ids)} entries but the fields have {n} sites")
        absent = site_ids.difference(pd.Index(ids))
        if len(absent):
            raise ValueError(f"{label}: no forcing for site(s) {_list(list(absent))} of {source_sites}")
        order = pd.Index(ids).get_indexer(site_ids)
        arrays = {k: v[order] for k, v in arrays.items()}
    elif n != len(site_ids):
        raise ValueError(f"{label} has {n} sites but {source_sites} has {len(site_ids)}; the forcing must have "
                         f"one entry per site, in the order of the site table (or carry a 'site_id' array)")
    try:
        return Forcing.from_numpy(**arrays)
    except ValueError as error:
        message = str(error)
        found = re.search(r"\bsite (\d+)\b", message)
        if found:
            message += f" (site {found.group(1)} is {site_ids[int(found.group(1))]!r})"
        raise ValueError(f"{label}: {message}") from None


def read_dataset(sites: str | os.PathLike | pd.DataFrame, observations: str | os.PathLike | pd.DataFrame,
                 forcing: str | os.PathLike | Forcing | Mapping[str, Any], *,
                 feature_names: Sequence[str] = SCIREN_COVARIATES, truth: Truth | None = None,
                 drop_sites_without_observations: bool = False, check_units: bool = True,
                 site_id: str = "site_id", depth: str = "depth_m", soc: str = "soc_gC_m3") -> SiteDataset:
    """Your own soil profiles as a :class:`SiteDataset`, checked with clear error messages.

    Parameters
    ----------
    sites : CSV path or DataFrame, one row per site: ``site_id`` (or the index), the covariates in
        ``feature_names``, optionally ``lon``, ``lat`` (degrees; needed for a spatial split) and more.
    observations : CSV path or DataFrame in long format: ``site_id``, ``depth_m`` (m, > 0, positive
        downwards; the middle of the sampled horizon) and ``soc_gC_m3`` (SOC density, g C m-3).
        If it has horizon columns ``top_m`` and ``bottom_m`` (m), each horizon must have
        ``bottom_m > top_m`` (zero thickness is an error) and ``depth_m`` may be left out (it is
        then the middle of the horizon). Without horizons a depth of exactly 0 is rejected as a
        zero-thickness sample.
    forcing : NPZ path (as written by :func:`save_dataset`), a CLM5 :class:`Forcing`, or a dict of
        arrays with the :data:`~binn_lite.clm5.FORCING_FIELDS`. With a ``site_id`` array the forcing is
        matched to the sites by id; without, it must follow the order of the site table.
    feature_names : covariates used as network inputs (must be numeric, no missing values).
    truth : optional :class:`Truth` (synthetic data), with parameters for every site.
    drop_sites_without_observations : sites without any observation are an error (they are listed);
        with ``True`` they are dropped with a warning that names them.
    check_units : reject SOC whose median is below 200 g C m-3 (percent or kg C m-3 by mistake).
    site_id, depth, soc : column names, if yours differ.

    Raises
    ------
    ValueError naming the file (or DataFrame), column, site and value: missing or misspelt columns
    (with the closest match), non-numeric values, missing covariates, negative / zero-thickness /
    too deep (> 10 m: centimetres?) depths, SOC in the wrong unit, duplicate site ids, observations
    of unknown sites, sites without observations, forcing that does not match the sites.
    """
    sites_label, obs_label = _source(sites, "sites"), _source(observations, "observations")
    site_table = _check_sites(_read_table(sites, "sites"), list(feature_names), sites_label,
                              isinstance(sites, (str, os.PathLike)), site_id)
    obs = _check_observations(_read_table(observations, "observations"), obs_label,
                              isinstance(observations, (str, os.PathLike)), site_id, depth, soc, check_units)
    unknown = pd.Index(obs[site_id].unique()).difference(site_table.index)
    if len(unknown):
        raise ValueError(f"{obs_label}: observations for {len(unknown)} site(s) not in {sites_label}: "
                         f"{_list(list(unknown))}")
    arrays, ids, forcing_label = _forcing_arrays(forcing)
    forcing_obj = _build_forcing(arrays, ids, forcing_label, site_table.index, sites_label)

    without = site_table.index.difference(pd.Index(obs[site_id].unique()), sort=False)
    if len(without):
        if not drop_sites_without_observations:
            raise ValueError(
                f"{sites_label}: {len(without)} site(s) have no observation in {obs_label}: {_list(list(without))}. "
                f"Add observations, remove the sites, or pass drop_sites_without_observations=True"
            )
        warnings.warn(f"dropping {len(without)} site(s) without observations: {_list(list(without))}", stacklevel=2)
        keep = ~site_table.index.isin(without)
        site_table = site_table[keep]
        forcing_obj = forcing_obj[torch.from_numpy(np.flatnonzero(keep))]
    if truth is not None:
        absent = site_table.index.difference(truth.params.index)
        if len(absent):
            raise ValueError(f"truth: no parameters for site(s) {_list(list(absent))}")
    obs = obs.rename(columns={site_id: "site_id"})
    site_table.index.name = "site_id"
    return SiteDataset(site_table, obs, forcing_obj, feature_names, truth, coord_name=depth, value_name=soc)


# ---------------------------------------------------------------------------------------------
# Command line: python -m binn_lite.data --regenerate [--out DIR]
# ---------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m binn_lite.data", description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true", help="write the bundled example files")
    parser.add_argument("--out", default=None, help="folder to write to (default: data/, the bundled example)")
    args = parser.parse_args(argv)
    if not args.regenerate:
        parser.print_help()
        return
    paths = regenerate_example(args.out)
    for name, path in paths.items():
        print(f"{path}  {path.stat().st_size:,d} bytes")


if __name__ == "__main__":
    main()
