"""A realistically messy soil-profile export, made from the bundled example so that its truth is known.

Tutorial 07 ("bring your own data") starts from files like the ones a soil database or a lab
hands out, not from binn_lite's own format. :func:`make_messy_export` takes a few hundred sites of
the bundled example (:func:`~binn_lite.data.example.load_example`) and writes what such an export
typically looks like:

* ``profiles.csv`` -- one row per horizon, WoSIS-like names: ``profile_id``, ``latitude``,
  ``longitude``, ``upper_depth`` and ``lower_depth`` (cm), ``orgc`` (organic carbon, % = g C per
  100 g fine earth, two decimals, as labs report it), ``bdod`` (bulk density of the fine earth,
  g cm-3, rising with depth) and ``cfvo`` (coarse fragments, volume %);
* ``covariates.csv`` -- one row per site under other names (``site``, ``MAT_C``, ``MAP_mm``, ...,
  :data:`COVARIATE_NAMES`), in the units of :data:`~binn_lite.data.schema.COVARIATES`.

The horizons hold exactly the example's SOC density (gC m-3), written back as

    orgc (%) = SOC (gC m-3) / (bdod (g cm-3) x 10,000 x (1 - cfvo / 100)),

so converting them forward recovers the example's observations up to the rounding of ``orgc``.
The mess (:data:`MESS`): a few horizons without a bulk density, one horizon listed twice, one
profile without coordinates. The example's forcing and truth (``load_example()``) belong to the
same site ids. Regenerate the files in ``data/messy/``, byte for byte, with

    python -m binn_lite.data.messy_export --out data/messy
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..dataset import SiteDataset
from .example import load_example

__all__ = ["COVARIATE_NAMES", "MESS", "make_messy_export", "write_messy_export", "main"]

#: schema covariate name -> the export's column name (``site`` is the id column of covariates.csv)
COVARIATE_NAMES = {
    "elevation": "elev_m", "bio1": "MAT_C", "bio12": "MAP_mm", "clay": "clay_pct", "sand": "sand_pct",
    "bulk_density": "bd_fine_earth", "wilting_point": "theta_wp", "ph": "pH_H2O", "cec": "CEC_cmol_kg",
    "npp": "NPP_gC_m2_yr", "veg_carbon": "vegC_gC_m2", "land_cover": "landcover",
}
#: how messy the export is: horizons without bulk density, horizons listed twice, profiles without coordinates
MESS = {"missing_bulk_density": 7, "duplicated_rows": 1, "sites_without_coordinates": 1}

_DECIMALS = {"latitude": 4, "longitude": 4, "upper_depth": 0, "lower_depth": 0, "orgc": 2, "bdod": 2, "cfvo": 0}


def _horizon_properties(dataset: SiteDataset, rng: np.random.Generator) -> pd.DataFrame:
    """Bulk density (g cm-3) and coarse fragments (volume %) for every observed horizon."""
    obs = dataset.observations
    site_bd = dataset.sites["bulk_density"].reindex(obs["site_id"]).to_numpy()
    # denser with depth (compaction), +-0.04 g cm-3 from horizon to horizon
    bdod = np.clip(site_bd + 0.15 * obs["depth_m"].to_numpy() + rng.normal(0.0, 0.04, len(obs)), 0.8, 1.85)
    # stony at about a third of the sites, stonier with depth
    stony = pd.Series(rng.uniform(size=len(dataset)) < 0.35, index=dataset.sites.index)
    base = pd.Series(rng.uniform(3.0, 25.0, size=len(dataset)), index=dataset.sites.index)
    cfvo = np.where(stony.reindex(obs["site_id"]).to_numpy(),
                    base.reindex(obs["site_id"]).to_numpy() + 12.0 * obs["depth_m"].to_numpy(), 0.0)
    return pd.DataFrame({"bdod": np.round(bdod, 2), "cfvo": np.round(np.minimum(cfvo, 60.0))})


def make_messy_export(n_sites: int = 300, seed: int = 7,
                      example: SiteDataset | None = None) -> dict[str, pd.DataFrame]:
    """``{"profiles": ..., "covariates": ...}``: ``n_sites`` random example sites as a messy export.

    ``example`` is the bundled example (read with :func:`load_example` if not given). The tables
    are text-ready: every number already rounded as it is written (see the module docstring).
    """
    example = load_example() if example is None else example
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(example), size=n_sites, replace=False))
    data = example.subset(chosen)
    obs = data.observations
    props = _horizon_properties(data, rng)
    orgc = obs["soc_gC_m3"].to_numpy() / (props["bdod"].to_numpy() * 1e4 * (1.0 - props["cfvo"].to_numpy() / 100))
    where = data.sites.reindex(obs["site_id"])
    profiles = pd.DataFrame({
        "profile_id": obs["site_id"].to_numpy(),
        "latitude": where["lat"].to_numpy(), "longitude": where["lon"].to_numpy(),
        "upper_depth": np.round(obs["top_m"].to_numpy() * 100), "lower_depth": np.round(obs["bottom_m"].to_numpy() * 100),
        "orgc": np.round(orgc, 2), "bdod": props["bdod"].to_numpy(), "cfvo": props["cfvo"].to_numpy(),
    })
    # the mess: missing bulk densities, a horizon listed twice, a profile without coordinates
    profiles.loc[rng.choice(len(profiles), size=MESS["missing_bulk_density"], replace=False), "bdod"] = np.nan
    nowhere = rng.choice(data.sites.index, size=MESS["sites_without_coordinates"], replace=False)
    profiles.loc[profiles["profile_id"].isin(nowhere), ["latitude", "longitude"]] = np.nan
    twice = rng.choice(len(profiles), size=MESS["duplicated_rows"], replace=False)
    order = np.sort(np.concatenate([np.arange(len(profiles)), twice]), kind="stable")
    profiles = profiles.iloc[order].reset_index(drop=True)

    covariates = data.sites[list(COVARIATE_NAMES)].rename(columns=COVARIATE_NAMES)
    covariates.index.name = "site"
    return {"profiles": profiles, "covariates": covariates.reset_index()}


def _as_text(frame: pd.DataFrame, decimals: dict[str, int]) -> pd.DataFrame:
    """Numbers with fixed decimals (empty where missing), so the files are the same on every run."""
    text = {}
    for column in frame.columns:
        values = frame[column]
        if column in decimals:
            text[column] = [f"{v:.{decimals[column]}f}" if np.isfinite(v) else "" for v in values]
        elif pd.api.types.is_float_dtype(values):
            text[column] = [f"{v:.12g}" for v in values]
        else:
            text[column] = values.astype(str)
    return pd.DataFrame(text)


def write_messy_export(directory: str | os.PathLike, n_sites: int = 300, seed: int = 7,
                       example: SiteDataset | None = None) -> dict[str, Path]:
    """Write ``profiles.csv`` and ``covariates.csv`` (:func:`make_messy_export`) to ``directory``.

    Returns ``{table name: path}``. The same arguments always give the same bytes.
    """
    from .schema import COVARIATES

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tables = make_messy_export(n_sites, seed, example)
    decimals = {"profiles": _DECIMALS,
                "covariates": {COVARIATE_NAMES[c]: COVARIATES[c][2] for c in COVARIATE_NAMES if c != "land_cover"}}
    paths = {}
    for name, table in tables.items():
        paths[name] = directory / f"{name}.csv"
        _as_text(table, decimals[name]).to_csv(paths[name], index=False, lineterminator="\n")
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m binn_lite.data.messy_export --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m binn_lite.data.messy_export", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data/messy", help="folder to write to (default: data/messy)")
    args = parser.parse_args(argv)
    for path in write_messy_export(args.out).values():
        print(f"{path}  {path.stat().st_size:,d} bytes")


if __name__ == "__main__":
    main()
