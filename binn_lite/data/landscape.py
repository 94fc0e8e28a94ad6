"""The synthetic landscape: where the example sites lie and what their covariates are.

Sites are drawn uniformly over the box lon -124.8..-67.0, lat 24.5..49.4 and kept if inside a
crude 70-point outline of the conterminous US (:data:`CONUS_OUTLINE`; the Great Lakes count as
land). Covariates (names and units in :data:`~binn_lite.data.schema.COVARIATES`) combine
large-scale patterns with smooth random fields (sums of random cosine waves, a few hundred km
long), so neighbouring sites are alike:

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

import numpy as np
import pandas as pd

from .schema import COVARIATES, quantize

__all__ = ["CONUS_BOUNDS", "CONUS_OUTLINE", "in_polygon", "sample_locations", "SmoothField", "site_covariates"]

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


def in_polygon(lon: np.ndarray, lat: np.ndarray, polygon: np.ndarray) -> np.ndarray:
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


def sample_locations(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform over the land part (crude outline) of the conterminous-US box."""
    lon_lo, lon_hi = CONUS_BOUNDS["lon"]
    lat_lo, lat_hi = CONUS_BOUNDS["lat"]
    lons, lats, have = [], [], 0
    while have < n:
        lon = rng.uniform(lon_lo, lon_hi, 2 * n)
        lat = rng.uniform(lat_lo, lat_hi, 2 * n)
        keep = in_polygon(lon, lat, CONUS_OUTLINE)
        lons.append(lon[keep])
        lats.append(lat[keep])
        have += int(keep.sum())
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


class SmoothField:
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


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``: a smooth step from 0 to 1."""
    return 1.0 / (1.0 + np.exp(-x))


def bump(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A Gaussian bump ``exp(-((x - centre) / width)^2)``, 1 at ``centre``."""
    return np.exp(-(((x - centre) / width) ** 2))


def site_covariates(rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Site table with plausible, spatially coherent covariates (units in :data:`COVARIATES`)."""
    field = {name: SmoothField(rng, length)(lon, lat) for name, length in [
        ("elevation", 2.0), ("temperature", 4.0), ("precipitation", 3.0), ("sand", 2.5), ("silt", 2.5),
        ("clay", 2.5), ("bulk_density", 3.0), ("ph", 3.0), ("organic", 3.0), ("land_cover", 2.0),
        ("npp", 3.0), ("bedrock", 2.0)]}
    n = len(lon)

    # elevation (m): plains ramp up westwards to the Rockies; Great Basin plateau; coastal ranges;
    # Appalachians along the line from Alabama to Maine
    plains = 200.0 + 1400.0 * np.clip((lon + 97.0) / (-105.0 + 97.0), 0.0, 1.0)
    west = lon < -105.0
    rockies = 900.0 * bump(lon, -107.5, 2.5) * bump(lat, 40.0, 7.0)
    basin = np.where(lon < -112.0, 1500.0 * sigmoid(lon + 119.0), 1700.0)
    sierra_cascade = 1300.0 * bump(lon, -120.8 + 0.08 * (lat - 38.0), 0.9) * sigmoid((lat - 35.0) / 1.0)
    coast = np.clip((lon + 124.8) / 2.0, 0.0, 1.0)
    elevation = np.where(west, basin * coast + rockies, plains + rockies)
    elevation = elevation + sierra_cascade
    appalachian_axis = lat - (34.0 + (lon + 85.5) * (44.0 - 34.0) / (-72.5 + 85.5))
    elevation += 650.0 * bump(appalachian_axis, 0.0, 1.2) * ((lon > -86.5) & (lon < -71.0))
    elevation *= np.exp(0.15 * field["elevation"])
    elevation = np.clip(elevation + 60.0 * field["elevation"], 0.0, 4000.0)

    # BIO1 (degC): latitude gradient, warmer west of 100 W at equal sea level, mild Pacific coast,
    # lapse rate 5 K km-1 (broad plateaus cool less than the free-air 6.5 K km-1)
    maritime = 4.0 * np.exp(-(lon + 124.8) / 2.5) * np.clip((lat - 35.0) / 10.0, 0.0, 1.0)
    bio1 = (24.5 - 0.75 * (lat - 25.0) + 2.0 * sigmoid(-(lon + 100.0) / 3.0) + maritime
            - 5.0e-3 * elevation + 0.8 * field["temperature"])

    # BIO12 (mm yr-1): humid east, wettest in the south-east; Pacific north-west coast; dry south-west
    east = 250.0 + 1050.0 * sigmoid((lon + 99.0) / 3.5) * (1.0 + 0.25 * np.clip((36.0 - lat) / 10.0, -1.0, 1.0))
    pacific_nw = 2000.0 * np.exp(-(((lon + 124.8) / 2.0) ** 2)) * sigmoid((lat - 40.5) / 1.5)
    california = 600.0 * np.exp(-(((lon + 123.5) / 2.0) ** 2)) * sigmoid((lat - 34.5) / 1.5)
    northern_rockies = 300.0 * bump(lon, -115.0, 3.0) * sigmoid((lat - 43.0) / 2.0)
    mountains = 0.35 * np.maximum(elevation - 1500.0, 0.0)
    bio12 = (east + pacific_nw + california + northern_rockies + mountains) * np.exp(0.15 * field["precipitation"])
    bio12 = np.clip(bio12, 120.0, 4000.0)

    # aridity: precipitation over a rough potential evapotranspiration (mm yr-1)
    pet = 450.0 + 45.0 * np.maximum(bio1, 0.0)
    wetness = bio12 / pet
    dry = np.clip(1.0 - wetness, 0.0, 1.0)

    # texture (%): softmax of smooth fields, so sand + silt + clay = 100
    coastal_plain = (bump(lat, 31.0, 3.0) * (lon > -92.0)) + bump(lat, 28.0, 2.0) * bump(lon, -81.5, 2.0)
    loess = bump(lon, -91.0, 4.0) * bump(lat, 41.0, 3.0)
    log_sand = 0.2 + 0.5 * field["sand"] + 0.6 * dry + 0.8 * coastal_plain + 0.4 * (elevation > 1800.0)
    log_silt = 0.1 + 0.35 * field["silt"] + 0.6 * loess
    log_clay = -0.3 + 0.45 * field["clay"] + 0.4 * bump(lat, 32.0, 4.0) * (lon > -100.0) * (lon < -88.0)
    logits = np.stack([log_sand, log_silt, log_clay], axis=1)
    share = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sand, silt, clay = 100.0 * share.T

    # organic matter indicator: cool and wet soils hold more organic matter
    organic = np.clip(0.5 * sigmoid((wetness - 1.0) / 0.3) + 0.3 * sigmoid((8.0 - bio1) / 3.0)
                      + 0.1 * field["organic"], 0.0, 1.0)
    bulk_density = np.clip(1.35 + 0.0035 * (sand - 40.0) - 0.002 * (clay - 20.0) - 0.25 * organic
                           + 0.06 * field["bulk_density"], 0.85, 1.8)
    # wilting point (m3 m-3): mostly clay, some silt and organic matter (pedotransfer-like)
    wilting_point = np.clip(0.015 + 0.0042 * clay + 0.0006 * silt + 0.04 * organic
                            + 0.025 * rng.normal(size=n), 0.01, 0.4)
    ph = np.clip(8.1 - 2.4 * sigmoid((wetness - 0.85) / 0.25) - 0.3 * organic + 0.35 * field["ph"], 4.0, 9.0)
    cec = np.clip(2.0 + 0.45 * clay + 0.06 * silt + 12.0 * organic + 2.0 * (ph > 7.5)
                  + 2.5 * rng.normal(size=n), 1.0, 60.0)

    # NPP (gC m-2 yr-1): Miami model (g dry matter) x 0.47 gC per g dry matter
    npp_t = 3000.0 / (1.0 + np.exp(1.315 - 0.119 * bio1))
    npp_p = 3000.0 * (1.0 - np.exp(-0.000664 * bio12))
    npp = 0.47 * np.minimum(npp_t, npp_p) * np.exp(0.12 * field["npp"])

    # land cover from climate, with smooth random boundaries
    score = wetness + 0.25 * field["land_cover"]
    land_cover = np.where(score > 0.95, "forest", np.where(score < 0.45, "shrubland", "grassland"))
    corn_belt = (bump(lon, -91.0, 6.0) * bump(lat, 41.5, 3.0) > 0.45) & (wetness > 0.6) & (field["land_cover"] < 0.6)
    land_cover = np.where(corn_belt, "cropland", land_cover)
    npp = npp * np.where(land_cover == "cropland", 1.1, 1.0)
    residence_years = pd.Series({"forest": 18.0, "shrubland": 5.0, "grassland": 1.2, "cropland": 0.7})
    veg_carbon = npp * residence_years[land_cover].to_numpy() * np.exp(0.25 * rng.normal(size=n))

    values = {"lon": lon, "lat": lat, "elevation": elevation, "bio1": bio1, "bio12": bio12, "clay": clay,
              "sand": sand, "bulk_density": bulk_density, "wilting_point": wilting_point, "ph": ph,
              "cec": cec, "npp": npp, "veg_carbon": veg_carbon}
    table = pd.DataFrame({name: quantize(v, COVARIATES[name][2]) for name, v in values.items()})
    table["land_cover"] = [str(c) for c in land_cover]  # pandas' default text dtype, as read_csv gives
    table.index = pd.Index([f"S{i + 1:05d}" for i in range(n)], name="site_id")
    # bedrock depth (m): shallow under mountains, beyond the model column elsewhere; stored with
    # the forcing, not as a covariate
    table.attrs["bedrock_depth_m"] = np.where(
        elevation > 1500.0, 1.5 + 3.0 * sigmoid(1.5 * field["bedrock"]), 6.0 + 6.0 * sigmoid(field["bedrock"])
    )
    return table

