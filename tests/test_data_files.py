"""Saving a dataset as files and reading your own profiles, one test per bad input (binn_lite.data.files)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.data import make_synthetic, read_dataset, save_dataset
from binn_lite.errors import BinnInputError
from binn_lite.forcing import Forcing


@pytest.fixture(scope="module")
def small():
    return make_synthetic(40, seed=7)


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    """The small dataset written as files (sites.csv, observations.csv, forcing.npz, ...)."""
    return save_dataset(small, tmp_path_factory.mktemp("small"))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str)


# ---------------------------------------------------------------------------------------------
# read_dataset: good input
# ---------------------------------------------------------------------------------------------
def test_read_dataset_from_files_and_dataframes(small, files):
    from_files = read_dataset(files["sites.csv"], files["observations.csv"], files["forcing.npz"])
    pd.testing.assert_frame_equal(from_files.sites, small.sites)
    torch.testing.assert_close(from_files.soc, small.soc, equal_nan=True)
    in_memory = read_dataset(small.sites, small.observations.drop(columns="depth_m"),
                             {**small.forcing.to_numpy(), "site_id": small.site_ids.to_numpy()})  # depth from horizons
    np.testing.assert_allclose(in_memory.depth.numpy(), small.depth.numpy(), atol=5e-4)
    as_forcing = read_dataset(small.sites.reset_index(), small.observations, small.forcing, forcing_in_site_order=True)
    assert as_forcing.site_ids.equals(small.site_ids) and isinstance(as_forcing.forcing, Forcing)


def test_forcing_matched_by_site_id(small, files, tmp_path):
    shuffled = _read(files["sites.csv"]).iloc[::-1]
    shuffled.to_csv(tmp_path / "sites.csv", index=False)
    ds = read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])
    assert ds.site_ids.tolist() == small.site_ids.tolist()[::-1]
    torch.testing.assert_close(ds.forcing.soil_temperature, small.forcing.soil_temperature.flip(0))


# ---------------------------------------------------------------------------------------------
# read_dataset: one test per bad input, asserting the message
# ---------------------------------------------------------------------------------------------
def test_misspelt_column_suggests_the_close_match(files, tmp_path):
    sites = _read(files["sites.csv"]).rename(columns={"clay": "caly", "bulk_density": "Bulk_Density"})
    sites.to_csv(tmp_path / "my_sites.csv", index=False)
    with pytest.raises(ValueError) as error:
        read_dataset(tmp_path / "my_sites.csv", files["observations.csv"], files["forcing.npz"])
    message = str(error.value)
    assert "my_sites.csv" in message
    assert "missing column 'clay' (did you mean 'caly'?)" in message
    assert "missing column 'bulk_density' (did you mean 'Bulk_Density'?)" in message


def test_missing_observation_column(files, tmp_path):
    obs = _read(files["observations.csv"]).drop(columns=["top_m", "bottom_m"]).rename(columns={"soc_gC_m3": "soc"})
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: missing column 'soc_gC_m3' \(did you mean 'soc'\?\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_non_numeric_value_named(files, tmp_path):
    sites = _read(files["sites.csv"])
    sites.loc[4, "ph"] = "6,5"
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: column 'ph' has a non-numeric value '6,5' at site 'S00005' \(line 6\)"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_nan_covariate_named(files, tmp_path):
    sites = _read(files["sites.csv"])
    sites.loc[2, "npp"] = ""
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: column 'npp' \(covariate\) has a missing value \(NaN or empty\) at site 'S00003'"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_nan_covariate_in_dataframe(small):
    sites = small.sites.copy()
    sites.loc["S00010", "clay"] = np.nan
    with pytest.raises(ValueError, match=r"sites \(DataFrame\): column 'clay' \(covariate\) has a missing value .* site 'S00010'"):
        read_dataset(sites, small.observations, small.forcing)


def _obs_without_horizons(files) -> pd.DataFrame:
    return _read(files["observations.csv"]).drop(columns=["top_m", "bottom_m"])


def test_negative_depth(files, tmp_path):
    obs = _obs_without_horizons(files)
    obs.loc[3, "depth_m"] = "-0.2"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: negative depth in column 'depth_m': -0.2 m at site 'S00001' \(line 5\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_zero_depth_without_horizons(files, tmp_path):
    obs = _obs_without_horizons(files)
    obs.loc[0, "depth_m"] = "0"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"depth exactly 0 m \(a zero-thickness sample at the surface\).*site 'S00001'"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_zero_thickness_horizon(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs.loc[1, "bottom_m"] = obs.loc[1, "top_m"]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: zero-thickness horizon at site 'S00001' \(line 3\): top_m = "):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_depths_in_centimetres(files, tmp_path):
    obs = _obs_without_horizons(files)
    obs["depth_m"] = (obs["depth_m"].astype(float) * 100).round(1).astype(str)
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: depth .* m in column 'depth_m' .* deeper than 10 m; are these centimetres\?"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_soc_in_percent(small, files, tmp_path):
    obs = _read(files["observations.csv"])
    bulk = small.sites["bulk_density"].reindex(obs["site_id"]).to_numpy()
    obs["soc_gC_m3"] = (obs["soc_gC_m3"].astype(float) / (bulk * 1e4)).round(3)  # g C per 100 g soil
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: column 'soc_gC_m3' should be SOC density in g C m-3.*looks like percent"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_soc_in_kg_per_m3(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs["soc_gC_m3"] = (obs["soc_gC_m3"].astype(float) / 1000).round(2)
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"median is .*looks like kg C m-3 \(multiply by 1,000\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])
    ds = read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"], check_units=False)
    assert float(np.nanmedian(ds.soc)) < 200


def test_duplicate_site_ids(files, tmp_path):
    sites = _read(files["sites.csv"])
    sites.loc[5, "site_id"] = "S00002"
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: duplicate site id\(s\) 'S00002'"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_observations_for_unknown_sites(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs.loc[0, "site_id"] = "X99"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: observations for 1 site\(s\) not in sites.csv: 'X99'"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_sites_without_observations_reported_or_dropped(small, files, tmp_path):
    obs = _read(files["observations.csv"])
    obs = obs[~obs["site_id"].isin(["S00004", "S00030"])]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: 2 site\(s\) have no observation in obs.csv: 'S00004', 'S00030'"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])
    with pytest.warns(UserWarning, match=r"dropping 2 site\(s\) without observations: 'S00004', 'S00030'"):
        ds = read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"],
                          drop_sites_without_observations=True)
    assert len(ds) == 38 and "S00004" not in ds.site_ids and len(ds.forcing) == 38
    keep = ~small.site_ids.isin(["S00004", "S00030"])
    torch.testing.assert_close(ds.forcing.litter_input, small.forcing.litter_input[torch.from_numpy(keep)])


def test_forcing_with_wrong_number_of_sites(small, files):
    arrays = small.forcing.to_numpy()
    short = {k: v[:-1] for k, v in arrays.items()}
    with pytest.raises(ValueError, match=r"forcing \(dict\) has 39 sites but sites.csv has 40"):
        read_dataset(files["sites.csv"], files["observations.csv"], short)
    with pytest.raises(ValueError, match=r"forcing \(Forcing\) has 39 sites but sites \(DataFrame\) has 40"):
        read_dataset(small.sites, small.observations, small.forcing[torch.arange(39)])


def test_forcing_file_with_other_sites_or_fields(small, files, tmp_path):
    arrays = small.forcing.to_numpy()
    ids = np.array(small.site_ids.tolist())
    ids[3] = "ELSEWHERE"
    np.savez(tmp_path / "forcing.npz", site_id=ids, **arrays)
    with pytest.raises(ValueError, match=r"forcing.npz: no forcing for site\(s\) 'S00004' of sites.csv"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing.npz")
    renamed = dict(arrays)
    renamed["soil_temp"] = renamed.pop("soil_temperature")
    np.savez(tmp_path / "forcing2.npz", **renamed)
    with pytest.raises(ValueError, match=r"forcing2.npz: unknown forcing field\(s\) soil_temp \(did you mean 'soil_temperature'\?\)"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing2.npz")


def test_forcing_in_celsius_names_file_and_site(small, files, tmp_path):
    arrays = small.forcing.to_numpy()
    arrays["soil_temperature"] = arrays["soil_temperature"] - 273.15
    np.savez(tmp_path / "forcing.npz", site_id=np.array(small.site_ids.tolist()), **arrays)
    with pytest.raises(ValueError, match=r"forcing.npz: .*soil_temperature.*kelvin.*site 0 .*degrees Celsius.*\(site 0 is 'S00001'\)"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing.npz")


def test_wrong_argument_types(small):
    with pytest.raises(TypeError, match="forcing must be an NPZ path"):
        read_dataset(small.sites, small.observations, [1, 2, 3])
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_dataset("/nonexistent/sites.csv", small.observations, small.forcing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_dataset(small.sites, small.observations, small.forcing, forcing_in_site_order=True)  # no warning


# ---------------------------------------------------------------------------------------------
# Issue 13: each class of careless input gives a BinnInputError naming file, column, site, value
# ---------------------------------------------------------------------------------------------
def _write(path: Path, content: str | bytes) -> Path:
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def _sites_text(files) -> str:
    return files["sites.csv"].read_text()


@pytest.mark.parametrize("content, message", [
    (b"", r"bad.csv: the file is empty \(0 bytes\)"),
    (b"\n  \n\n", r"bad.csv: the file is empty \(only blank lines\)"),
    (b"site_id,clay\n", r"bad.csv: has a header but no data rows"),
    (bytes(range(256)), r"bad.csv: binary data \(NUL bytes\)"),
    (b"PK\x03\x04\x14\x00rest of a workbook", r"bad.csv: this is a zip archive \(an Excel .xlsx"),
    ("site_id,clay\nS\u00e91,2\n".encode("latin-1"), r"bad.csv: not UTF-8 text: byte 0xe9 on line 2"),
    ("site_id,clay\nS1,2\n".encode("utf-16"), r"bad.csv: this is UTF-16 text"),
    (b'site_id,clay\n"S1,2\n', r"bad.csv: cannot be read as CSV \(an unmatched double quote"),
])
def test_unreadable_csv_named(files, tmp_path, content, message):
    with pytest.raises(BinnInputError, match=message):
        read_dataset(_write(tmp_path / "bad.csv", content), files["observations.csv"], files["forcing.npz"])


@pytest.mark.parametrize("delimiter, name", [(";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")])
def test_wrong_delimiter_says_delimiter(files, tmp_path, delimiter, name):
    text = _sites_text(files).replace(",", delimiter)
    with pytest.raises(BinnInputError, match=rf"sites.csv: wrong delimiter: the columns are separated by {name}") as error:
        read_dataset(_write(tmp_path / "sites.csv", text), files["observations.csv"], files["forcing.npz"])
    assert len(str(error.value)) < 400  # not a list of every missing column


def test_semicolons_with_decimal_commas(files, tmp_path):
    text = _sites_text(files).replace(",", ";").replace(".", ",")
    with pytest.raises(BinnInputError, match=r"semicolons.*decimal commas.*sep=';', decimal=','"):
        read_dataset(_write(tmp_path / "sites.csv", text), files["observations.csv"], files["forcing.npz"])


def test_unquoted_decimal_comma_names_the_line(files, tmp_path):
    lines = _sites_text(files).splitlines()
    lines[3] = lines[3].replace(".", ",", 3)
    with pytest.raises(BinnInputError, match=r"sites.csv: line 4 has \d+ fields but the header has \d+.*1,5"):
        read_dataset(_write(tmp_path / "sites.csv", "\n".join(lines) + "\n"), files["observations.csv"],
                     files["forcing.npz"])


def test_byte_order_mark_and_spaces_in_header_are_fine(small, files, tmp_path):
    header, rest = _sites_text(files).split("\n", 1)
    text = " , ".join(header.split(",")) + "\n" + rest
    ds = read_dataset(_write(tmp_path / "sites.csv", text.encode("utf-8-sig")), files["observations.csv"],
                      files["forcing.npz"])
    pd.testing.assert_frame_equal(ds.sites, small.sites)


def test_duplicated_column_named(files, tmp_path):
    sites = _read(files["sites.csv"]).rename(columns={"sand": "clay"})
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(BinnInputError, match=r"sites.csv: column\(s\) 'clay' appear more than once"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


@pytest.mark.parametrize("value, message", [
    ("inf", r"column 'clay' has an infinite covariate \('inf'\) at site 'S00003' \(line 4\)"),
    ("-1e999", r"column 'clay' has an infinite covariate \('-1e999'\)"),
    ("NA", r"column 'clay' \(covariate\) has a missing value \(NaN or empty\) at site 'S00003'"),
    ("12 %", r"column 'clay' has a non-numeric value '12 %' at site 'S00003' \(line 4\) \(a unit in the cell"),
    ("1,5", r"non-numeric value '1,5'.*decimal comma"),
])
def test_numeric_problems_told_apart(files, tmp_path, value, message):
    sites = _read(files["sites.csv"])
    sites.loc[2, "clay"] = value
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(BinnInputError, match=message):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_missing_site_id_named(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs.loc[4, "site_id"] = "NaN"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(BinnInputError, match=r"obs.csv: column 'site_id' has no site id at row 4 \(line 6\) \(value 'NaN'\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_ids_compared_as_text(small):
    """1, 1.0 and '1' are one site; '01' and 1 are not (the message suggests the near match)."""
    numbered = {s: i + 1 for i, s in enumerate(small.site_ids)}
    sites = small.sites.reset_index().assign(site_id=lambda t: t["site_id"].map(numbered).astype(float))
    obs = small.observations.assign(site_id=small.observations["site_id"].map(numbered).astype(str))
    forcing = {**small.forcing.to_numpy(), "site_id": np.arange(1, 41)}
    ds = read_dataset(sites, obs, forcing)
    assert ds.site_ids[:3].tolist() == ["1", "2", "3"]
    with pytest.raises(BinnInputError, match=r"sites \(DataFrame\): duplicate site id\(s\) '1' \(2 times\)"):
        read_dataset(sites.assign(site_id=[1, "1"] + list(range(2, 40))), obs, forcing)
    padded = obs.assign(site_id=obs["site_id"].str.zfill(2))
    with pytest.raises(BinnInputError, match=r"not in sites \(DataFrame\): '01'.*did you mean '1' for '01'"):
        read_dataset(sites, padded, forcing)


def test_depths_in_centimetres_all_at_most_10(files, tmp_path):
    """The top 10 cm of each profile, in cm: every depth <= 10, so the 10 m limit cannot see it."""
    obs = _obs_without_horizons(files)
    obs["depth_m"] = obs["depth_m"].astype(float) * 100
    obs = obs[obs["depth_m"] <= 10]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(BinnInputError, match=r"obs.csv: the shallowest sample of site '\w+' is at [\d.]+ m "
                                             r"\(column 'depth_m'\).*centimetres.*check_units=False"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"],
                     drop_sites_without_observations=True)


def test_horizons_in_centimetres(files, tmp_path):
    obs = _read(files["observations.csv"]).drop(columns="depth_m")
    obs = obs.assign(top_m=obs["top_m"].astype(float) * 100, bottom_m=obs["bottom_m"].astype(float) * 100)
    obs = obs[obs["bottom_m"] <= 10]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(BinnInputError, match=r"obs.csv: horizon 0-\d+ m at site .* thick .*centimetres"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"],
                     drop_sites_without_observations=True)


def test_one_profile_in_centimetres_among_metres(files, tmp_path):
    obs = _obs_without_horizons(files)
    one = obs["site_id"] == "S00007"
    obs.loc[one, "depth_m"] = (obs.loc[one, "depth_m"].astype(float) * 100).round(1).astype(str)
    obs = obs[~one | (obs["depth_m"].astype(float) <= 10)]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(BinnInputError, match=r"shallowest sample of site 'S00007'.*1 site\(s\) affected"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])
    read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"], check_units=False)


def test_forcing_without_ids_refused_unless_in_site_order(small, files, tmp_path):
    arrays = small.forcing.to_numpy()
    np.savez(tmp_path / "forcing.npz", **arrays)
    shuffled = _read(files["sites.csv"]).iloc[::-1]
    shuffled.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(BinnInputError, match=r"forcing.npz has no 'site_id' array.*forcing_in_site_order=True"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], tmp_path / "forcing.npz")
    ds = read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing.npz",
                      forcing_in_site_order=True)
    torch.testing.assert_close(ds.forcing.bedrock, small.forcing.bedrock)


def test_forcing_ids_duplicated_missing_or_extra(small, files, tmp_path):
    arrays = small.forcing.to_numpy()
    ids = np.array(small.site_ids.tolist())
    np.savez(tmp_path / "dup.npz", site_id=np.r_[ids[:-1], ids[:1]], **arrays)
    with pytest.raises(BinnInputError, match=r"dup.npz: duplicate site id\(s\) in the forcing: 'S00001' \(2 times\)"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "dup.npz")
    np.savez(tmp_path / "empty.npz", site_id=np.r_[ids[:-1], [""]], **arrays)
    with pytest.raises(BinnInputError, match=r"empty.npz: 'site_id' is missing at forcing entry 39"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "empty.npz")
    more = {k: np.concatenate([v, v[:1]]) for k, v in arrays.items()}
    np.savez(tmp_path / "more.npz", site_id=np.r_[ids, ["ELSEWHERE"]], **more)
    with pytest.warns(UserWarning, match=r"more.npz: ignoring the forcing of 1 site\(s\) not in sites.csv: 'ELSEWHERE'"):
        ds = read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "more.npz")
    assert len(ds.forcing) == 40


@pytest.mark.parametrize("content, message", [
    (b"", r"forcing.npz: the file is empty"),
    (b"site_id,clay\nS1,2\n", r"forcing.npz: not an .npz archive \(this is text"),
    (b"PK\x03\x04broken", r"forcing.npz: not a readable .npz archive"),
])
def test_unreadable_forcing_file(files, tmp_path, content, message):
    with pytest.raises(BinnInputError, match=message):
        read_dataset(files["sites.csv"], files["observations.csv"], _write(tmp_path / "forcing.npz", content))


def test_every_error_is_a_binn_input_error(small, files):
    with pytest.raises(BinnInputError) as error:
        read_dataset("/nonexistent/sites.csv", small.observations, small.forcing)
    assert isinstance(error.value, FileNotFoundError)
    with pytest.raises(BinnInputError, match=r"feature_names must be a list of column names; got 'clay' \(write \['clay'\]\)"):
        read_dataset(files["sites.csv"], files["observations.csv"], files["forcing.npz"], feature_names="clay")
    with pytest.raises(BinnInputError, match=r"sites \(DataFrame\): 'site_id' is both the index and a column"):
        read_dataset(small.sites.reset_index().set_index("site_id", drop=False), small.observations, small.forcing)


def test_a_file_of_unicode_white_space_is_empty(tmp_path):
    """U+0085 (next line) is white space to str.strip but not to bytes.strip: found by hypothesis."""
    path = tmp_path / "sites.csv"
    path.write_bytes(b"\xc2\x85")
    from binn_lite.data.files import read_table
    with pytest.raises(BinnInputError, match="sites.csv: the file is empty"):
        read_table(path, "sites")
