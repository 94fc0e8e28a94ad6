"""The columns of a soil-profile dataset: names, units, stored decimals, and rounding to them.

Every file :func:`~binn_lite.data.files.save_dataset` writes has fixed decimals per known column
(below), so regenerating the bundled example gives the same bytes every time. The synthetic
generator rounds its values to these decimals *before* using them, so the dataset in memory equals
the one read back from the files.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SCIREN_COVARIATES", "COVARIATES", "LAND_COVER_CLASSES", "OBSERVATION_COLUMNS", "TRUTH_DIGITS",
           "quantize", "significant"]

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

#: observation columns: name -> (unit, meaning, decimals); the depth of a sample is the middle of its horizon
OBSERVATION_COLUMNS: dict[str, tuple[str, str, int]] = {
    "site_id": ("-", "site identifier (matches the site table)", 0),
    "depth_m": ("m", "depth of the sample: middle of the horizon", 3),
    "top_m": ("m", "top of the horizon", 2),
    "bottom_m": ("m", "bottom of the horizon", 2),
    "soc_gC_m3": ("gC m-3", "soil organic carbon density", 1),
}
TRUTH_DIGITS = 10  # significant digits of the stored true parameters


def quantize(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round to ``decimals`` decimal places through the decimal text, so the CSV round-trips exactly."""
    x = np.asarray(x, dtype=np.float64)
    text = np.char.mod(f"%.{decimals}f", x.reshape(-1))
    return text.astype(np.float64).reshape(x.shape)


def significant(x: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits through the text (as :func:`quantize`)."""
    x = np.asarray(x, dtype=np.float64)
    text = np.char.mod(f"%.{digits}g", x.reshape(-1))
    return text.astype(np.float64).reshape(x.shape)
