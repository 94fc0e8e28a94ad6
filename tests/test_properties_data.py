"""Property-based tests of reading user data (binn_lite.data.files.read_dataset), with hypothesis.

Valid random site / observation / forcing tables, in any row order and with harmless formatting
(a byte-order mark, spaces around names and values, CRLF line ends, extra columns), load without
NaN or exception, also after ``save_dataset -> read_dataset``. Every random corruption of them,
and random bytes, text and cells, raises :class:`BinnInputError` and never another exception.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from binn_lite.data import read_dataset, save_dataset
from binn_lite.data.validation import _MISSING, MISSING_TOKENS, _as_number, _parse_cells
from binn_lite.errors import BinnInputError
from binn_lite.forcing import FORCING_FIELDS

FEATURES = ["clay", "ph"]
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


# ---------------------------------------------------------------------------------------------
# Strategies: a valid dataset as (sites, observations, forcing arrays with ids)
# ---------------------------------------------------------------------------------------------
def forcing_for(n: int, seed: int) -> dict[str, np.ndarray]:
    """Plausible CLM5 forcing for ``n`` sites (every field in its valid range)."""
    rng = np.random.default_rng(seed)
    layer = (n, 12, 20)
    return {"litter_input": rng.uniform(0, 50, (n, 12, 4)), "soil_temperature": rng.uniform(260, 300, layer),
            "water_scalar": rng.uniform(0, 1, layer), "oxygen_scalar": rng.uniform(0, 1, layer),
            "nitrogen_scalar": rng.uniform(0, 1, layer), "altmax": rng.uniform(0, 3, (n, 12)),
            "altmax_lastyear": rng.uniform(0, 3, (n, 12)), "bedrock": rng.integers(1, 21, n)}


@st.composite
def datasets(draw, cm_grid: bool = False):
    """(sites, observations, forcing dict with a shuffled 'site_id') of 1-5 valid soil profiles."""
    ids = draw(st.lists(st.text(ID_ALPHABET, min_size=1, max_size=6), min_size=1, max_size=5, unique=True)
               .filter(lambda ids: not {i.lower() for i in ids} & MISSING_TOKENS))
    n = len(ids)
    number = lambda low, high: st.floats(low, high, allow_nan=False, allow_infinity=False)  # noqa: E731
    sites = pd.DataFrame({"site_id": ids, "lon": draw(st.lists(number(-180, 180), min_size=n, max_size=n)),
                          "lat": draw(st.lists(number(-90, 90), min_size=n, max_size=n)),
                          "clay": draw(st.lists(number(0, 100), min_size=n, max_size=n)),
                          "ph": draw(st.lists(number(3, 10), min_size=n, max_size=n))})
    rows = []
    for site in ids:
        top = draw(st.integers(0, 30)) / 100 if cm_grid else draw(number(0, 0.5))
        for _ in range(draw(st.integers(1, 3))):
            thick = draw(st.integers(1, 100)) / 100 if cm_grid else draw(number(0.01, 1.0))
            bottom = round(top + thick, 2) if cm_grid else top + thick
            rows.append((site, (top + bottom) / 2, top, bottom, draw(number(200, 1e5))))
            top = bottom
    obs = pd.DataFrame(rows, columns=["site_id", "depth_m", "top_m", "bottom_m", "soc_gC_m3"])
    order = draw(st.permutations(range(n)))
    forcing = {k: v[order] for k, v in forcing_for(n, draw(st.integers(0, 2**16))).items()}
    forcing["site_id"] = np.array(ids)[order]
    return sites, obs, forcing


def write(folder: Path, sites: pd.DataFrame | str | bytes, obs: pd.DataFrame | str | bytes,
          forcing: dict[str, np.ndarray]) -> tuple[Path, Path, Path]:
    """The three files; tables may be given as DataFrames or as the exact text / bytes of the CSV."""
    paths = folder / "sites.csv", folder / "observations.csv", folder / "forcing.npz"
    for path, table in zip(paths, (sites, obs)):
        if isinstance(table, pd.DataFrame):
            table = table.to_csv(index=False)
        (path.write_bytes if isinstance(table, bytes) else path.write_text)(table)
    np.savez(paths[2], **forcing)
    return paths


def read(sites, obs, forcing, quiet: bool = False, **kw):
    """read_dataset with the test's features; warnings are errors unless ``quiet``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if quiet else "error")
        return read_dataset(sites, obs, forcing, feature_names=FEATURES, **kw)


def assert_loaded(ds, sites: pd.DataFrame, obs: pd.DataFrame, forcing: dict[str, np.ndarray]) -> None:
    """The dataset holds the tables in site-table order, with no NaN and the forcing matched by id."""
    ids = [str(s).strip() for s in sites["site_id"]]
    assert ds.site_ids.tolist() == ids
    assert np.isfinite(ds.covariates.to_numpy(dtype=float)).all()
    np.testing.assert_allclose(ds.covariates.to_numpy(dtype=float), sites[FEATURES].to_numpy(dtype=float),
                               rtol=1e-6, atol=6e-3)
    assert int(ds.n_obs.sum()) == len(obs)
    observed = ~torch.isnan(ds.depth)
    assert bool(torch.isfinite(ds.soc[observed]).all()) and int(observed.sum()) == len(obs)
    position = {s: i for i, s in enumerate(forcing["site_id"])}
    expected = forcing["bedrock"][[position[s] for s in ids]]
    assert ds.forcing.bedrock.tolist() == expected.tolist()


# ---------------------------------------------------------------------------------------------
# Valid input loads
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, **SETTINGS)
@given(data=datasets(), layout=st.fixed_dictionaries({
    "bom": st.booleans(), "spaces": st.booleans(), "crlf": st.booleans(), "extra": st.booleans(),
    "horizons": st.booleans(), "shuffle": st.booleans()}))
def test_valid_files_load_without_nan(data, layout):
    sites, obs, forcing = data
    if layout["shuffle"]:
        sites, obs = sites.iloc[::-1], obs.iloc[::-1]
        sites = sites[list(sites.columns[::-1])]
    if layout["extra"]:
        sites = sites.assign(note="a note, with a comma")
    if not layout["horizons"]:
        obs = obs.drop(columns=["top_m", "bottom_m"])
    texts = []
    for table in (sites, obs):
        text = table.to_csv(index=False)
        if layout["spaces"]:
            header, rest = text.split("\n", 1)
            text = "  ,  ".join(header.split(",")) + " \n" + rest.replace(",", ", ")
        if layout["crlf"]:
            text = text.replace("\n", "\r\n")
        texts.append(text.encode("utf-8-sig" if layout["bom"] else "utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        ds = read(*write(Path(folder), texts[0], texts[1], forcing))
    assert_loaded(ds, sites, obs, forcing)


@settings(max_examples=25, **SETTINGS)
@given(data=datasets())
def test_valid_dataframes_load_without_nan(data):
    sites, obs, forcing = data
    ds = read(sites.set_index("site_id"), obs, forcing)
    assert_loaded(ds, sites, obs, forcing)


@settings(max_examples=25, **SETTINGS)
@given(data=datasets(cm_grid=True))
def test_save_then_read_round_trips(data):
    sites, obs, forcing = data
    ds = read(sites, obs, forcing)
    with tempfile.TemporaryDirectory() as folder:
        paths = save_dataset(ds, folder)
        again = read(paths["sites.csv"], paths["observations.csv"], paths["forcing.npz"])
    assert again.site_ids.tolist() == ds.site_ids.tolist()
    np.testing.assert_allclose(again.covariates.to_numpy(), ds.covariates.to_numpy(), atol=6e-3)
    torch.testing.assert_close(again.depth, ds.depth, atol=6e-4, rtol=0, equal_nan=True)
    torch.testing.assert_close(again.soc, ds.soc, atol=0.06, rtol=0, equal_nan=True)
    torch.testing.assert_close(again.forcing.soil_temperature, ds.forcing.soil_temperature.float().double())
    assert torch.equal(again.forcing.bedrock, ds.forcing.bedrock)


# ---------------------------------------------------------------------------------------------
# Invalid input: BinnInputError, naming the file, and never another exception
# ---------------------------------------------------------------------------------------------
def _set(table: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    table = table.astype({column: object}).copy()
    table.iloc[row, table.columns.get_loc(column)] = value
    return table


def _text(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def _forcing(f: dict[str, np.ndarray], **changes) -> dict[str, np.ndarray]:
    return {**f, **changes}


def _cm(o: pd.DataFrame) -> pd.DataFrame:
    return o.assign(**{c: o[c] * 100 for c in ("depth_m", "top_m", "bottom_m")})


#: corruption name -> (file it breaks, function (sites, obs, forcing, row) -> (sites, obs, forcing))
CORRUPTIONS = {
    "empty file": ("sites.csv", lambda s, o, f, r: ("", o, f)),
    "header only": ("observations.csv", lambda s, o, f, r: (s, _text(o).split("\n")[0] + "\n", f)),
    "binary": ("sites.csv", lambda s, o, f, r: (b"\x00\x01\x02\xff" * 20, o, f)),
    "latin-1": ("sites.csv", lambda s, o, f, r: (_text(s).replace(s["site_id"][r], "Z\u00e9", 1).encode("latin-1"),
                                                 o, f)),
    "utf-16": ("sites.csv", lambda s, o, f, r: (_text(s).encode("utf-16"), o, f)),
    "semicolons": ("sites.csv", lambda s, o, f, r: (_text(s).replace(",", ";"), o, f)),
    "tabs": ("observations.csv", lambda s, o, f, r: (s, _text(o).replace(",", "\t"), f)),
    "decimal comma": ("sites.csv", lambda s, o, f, r: (_text(_set(s, "clay", r, "1,5")).replace('"1,5"', "1,5"), o, f)),
    "NaN covariate": ("sites.csv", lambda s, o, f, r: (_set(s, "ph", r, np.nan), o, f)),
    "inf covariate": ("sites.csv", lambda s, o, f, r: (_set(s, "ph", r, "inf"), o, f)),
    "text covariate": ("sites.csv", lambda s, o, f, r: (_set(s, "clay", r, "high"), o, f)),
    "duplicated id": ("sites.csv", lambda s, o, f, r: (pd.concat([s, s.iloc[[r]]]), o, f)),
    "empty id": ("sites.csv", lambda s, o, f, r: (_set(s, "site_id", r, ""), o, f)),
    "missing column": ("sites.csv", lambda s, o, f, r: (s.drop(columns="clay"), o, f)),
    "duplicated column": ("sites.csv", lambda s, o, f, r: (_text(s).replace("ph", "clay", 1), o, f)),
    "latitude out of range": ("sites.csv", lambda s, o, f, r: (_set(s, "lat", r, 95.0), o, f)),
    "negative depth": ("observations.csv", lambda s, o, f, r: (s, _set(o, "top_m", 0, -0.1), f)),
    "huge depth": ("observations.csv",
                   lambda s, o, f, r: (s, _set(o.drop(columns=["top_m", "bottom_m"]), "depth_m", 0, 25.0), f)),
    "depths in cm": ("observations.csv", lambda s, o, f, r: (s, _cm(o), f)),
    "unknown site": ("observations.csv", lambda s, o, f, r: (s, _set(o, "site_id", 0, "nowhere"), f)),
    "text SOC": ("observations.csv", lambda s, o, f, r: (s, _set(o, "soc_gC_m3", 0, "12 g"), f)),
    "SOC in percent": ("observations.csv", lambda s, o, f, r: (s, o.assign(soc_gC_m3=o["soc_gC_m3"] / 1e4), f)),
    "upside-down horizon": ("observations.csv",
                            lambda s, o, f, r: (s, o.assign(top_m=o["bottom_m"], bottom_m=o["top_m"]), f)),
    "missing SOC column": ("observations.csv", lambda s, o, f, r: (s, o.drop(columns="soc_gC_m3"), f)),
    "forcing duplicated id": ("forcing.npz", lambda s, o, f, r: (
        s, o, _forcing(f, site_id=np.r_[f["site_id"][:-1], f["site_id"][:1]]))),
    "forcing missing site": ("forcing.npz", lambda s, o, f, r: (
        s, o, _forcing(f, site_id=np.array([f"?{i}" for i in range(len(f["site_id"]))])))),
    "forcing NaN": ("forcing.npz", lambda s, o, f, r: (
        s, o, _forcing(f, altmax=np.where(np.arange(12) == r % 12, np.nan, f["altmax"])))),
    "forcing wrong shape": ("forcing.npz", lambda s, o, f, r: (s, o, _forcing(f, altmax=f["altmax"][:, :6]))),
    "forcing unknown field": ("forcing.npz", lambda s, o, f, r: (s, o, _forcing(f, soil_temp=f["soil_temperature"]))),
    "forcing in Celsius": ("forcing.npz", lambda s, o, f, r: (
        s, o, _forcing(f, soil_temperature=f["soil_temperature"] - 273.15))),
}


@settings(max_examples=120, **SETTINGS)
@given(data=datasets(), corruption=st.sampled_from(sorted(CORRUPTIONS)), pick=st.integers(0, 10**6))
def test_corrupted_input_raises_binn_input_error_naming_the_file(data, corruption, pick):
    sites, obs, forcing = data
    broken_file, corrupt = CORRUPTIONS[corruption]
    if corruption == "forcing duplicated id":
        assume(len(sites) > 1)
    if corruption == "depths in cm":  # horizons of at most 2 cm from the surface read as 0-2 m: no rule can tell
        thickest = (obs["bottom_m"] - obs["top_m"]).max()
        assume(thickest > 0.0201 or obs.groupby("site_id")["depth_m"].min().max() > 0.0101)
    sites, obs, forcing = corrupt(sites, obs, forcing, pick % len(sites))
    with tempfile.TemporaryDirectory() as folder, pytest.raises(BinnInputError) as error:
        read(*write(Path(folder), sites, obs, forcing))
    assert broken_file in str(error.value)


@settings(max_examples=20, **SETTINGS)
@given(data=datasets())
def test_forcing_without_ids_needs_the_callers_word(data):
    sites, obs, forcing = data
    assume(len(sites) > 1)
    fields = {k: v for k, v in forcing.items() if k != "site_id"}
    with pytest.raises(BinnInputError, match="forcing \\(dict\\) has no 'site_id' array"):
        read(sites, obs, fields)
    ds = read(sites, obs, fields, forcing_in_site_order=True)
    assert ds.forcing.bedrock.tolist() == fields["bedrock"].tolist()


@settings(max_examples=60, **SETTINGS)
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8")),
                         st.text(alphabet='site_id,clay,ph;\t"\n 0123456789.e-+naif', max_size=300)
                         .map(lambda t: ("site_id,clay,ph\n" + t).encode())))
def test_random_bytes_as_a_csv_never_raise_another_error(content):
    sites, obs, forcing = _fixed_dataset()
    with tempfile.TemporaryDirectory() as folder:
        paths = write(Path(folder), content, obs, forcing)
        try:
            ds = read(*paths, quiet=True, drop_sites_without_observations=True)
        except BinnInputError:
            return
    assert np.isfinite(ds.covariates.to_numpy(dtype=float)).all()


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.text(max_size=5),
                  st.none(), st.booleans())


@settings(max_examples=60, **SETTINGS)
@given(clay=st.lists(cells, min_size=3, max_size=3), ph=st.lists(cells, min_size=3, max_size=3),
       ids=st.lists(st.one_of(st.integers(0, 3), st.text(max_size=3), st.floats(0, 3), st.none()),
                    min_size=3, max_size=3))
def test_random_cells_in_a_dataframe_never_raise_another_error(clay, ph, ids):
    sites, obs, forcing = _fixed_dataset()
    sites = sites.assign(site_id=ids, clay=pd.Series(clay, dtype=object), ph=pd.Series(ph, dtype=object))
    try:
        ds = read(sites, obs, forcing, quiet=True, drop_sites_without_observations=True)
    except BinnInputError:
        return
    assert np.isfinite(ds.covariates.to_numpy(dtype=float)).all()


number_like = st.one_of(
    st.text(alphabet=" +-.,_0123456789eEinfatyINFATY/#<>\u00a0\u0661\uff11\u0131\u0130", max_size=8),
    st.sampled_from(sorted(MISSING_TOKENS)), st.floats().map(repr), st.none())


def _string_dtypes() -> list:
    """object and the string dtypes this pandas has (``str`` is pandas 3's default for text)."""
    dtypes = [object, "string"]
    for name in ("str", "string[pyarrow]"):
        try:
            pd.Series(["1"], dtype=name)
        except (TypeError, ImportError):
            continue
        dtypes.append(name)
    return dtypes


@pytest.mark.parametrize("dtype", _string_dtypes())
@settings(max_examples=150, **SETTINGS)
@given(column=st.lists(number_like, min_size=1, max_size=12))
def test_a_column_of_text_is_read_as_cell_by_cell(dtype, column):
    """The vectorised parse of a file's text column agrees with reading each cell on its own,
    whatever string dtype holds the column."""
    raw = pd.Series(column, dtype=dtype)
    column = raw.astype(object).tolist()  # what the cells are once stored (None may become NaN or NA)
    values, missing, text = _parse_cells(raw)
    cells = [_as_number(c) for c in column]
    assert missing.tolist() == [c is _MISSING for c in cells]
    assert text.tolist() == [c is None for c in cells]
    expected = [c if isinstance(c, float) else np.nan for c in cells]
    np.testing.assert_array_equal(values, np.array(expected, dtype=np.float64))


def _fixed_dataset() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Three plain sites '0', '1', '2' with one horizon each."""
    sites = pd.DataFrame({"site_id": ["0", "1", "2"], "clay": [10.0, 20.0, 30.0], "ph": [5.0, 6.0, 7.0]})
    obs = pd.DataFrame({"site_id": ["0", "1", "2"], "depth_m": [0.05] * 3, "soc_gC_m3": [5000.0] * 3})
    return sites, obs, {**forcing_for(3, 0), "site_id": np.array(["0", "1", "2"])}


def test_forcing_fields_cover_the_contract():
    assert set(forcing_for(2, 0)) == set(FORCING_FIELDS)
