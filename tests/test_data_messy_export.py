"""The messy export of tutorial 07: the files in data/messy/ regenerate byte for byte, and the
forward conversion recovers the bundled example's SOC up to the rounding of ``orgc``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from binn_lite.data import load_example
from binn_lite.data.messy_export import COVARIATE_NAMES, MESS, make_messy_export, write_messy_export

MESSY = Path(__file__).resolve().parent.parent / "data" / "messy"


@pytest.fixture(scope="module")
def example():
    return load_example()


def test_committed_files_regenerate_byte_for_byte(example, tmp_path):
    paths = write_messy_export(tmp_path, example=example)
    for name, path in paths.items():
        assert path.read_bytes() == (MESSY / path.name).read_bytes(), f"{path.name}: run python -m binn_lite.data.messy_export"


def test_the_mess_is_there_and_the_conversion_recovers_the_example(example):
    tables = make_messy_export(example=example)
    profiles, covariates = tables["profiles"], tables["covariates"]
    assert profiles.duplicated().sum() == MESS["duplicated_rows"]
    assert profiles["bdod"].isna().sum() == MESS["missing_bulk_density"]
    assert profiles.loc[profiles["latitude"].isna(), "profile_id"].nunique() == MESS["sites_without_coordinates"]
    assert list(covariates.columns) == ["site", *COVARIATE_NAMES.values()]
    clean = profiles.drop_duplicates().dropna(subset=["bdod"])
    soc = clean["orgc"] * clean["bdod"] * 1e4 * (1 - clean["cfvo"] / 100)
    truth = example.observations.set_index(["site_id", "top_m"])["soc_gC_m3"]
    original = truth.reindex(pd.MultiIndex.from_arrays([clean["profile_id"], clean["upper_depth"] / 100]))
    relative = np.abs(soc.to_numpy() / original.to_numpy() - 1)
    assert np.isfinite(relative).all()
    assert np.all(relative <= 0.005 / (clean["orgc"].to_numpy() - 0.005) + 1e-9)  # orgc rounded to 0.01 %
