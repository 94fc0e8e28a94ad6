"""SiteDataset and Normalizer: padding, subsets, cross-validation folds, normalisation, truth alignment."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.data import Truth
from binn_lite.dataset import Normalizer, SiteDataset, positions
from binn_lite.errors import BinnInputError


class ToyForcing:
    """The least a forcing must offer: len, [index], .to."""

    def __init__(self, values: torch.Tensor):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index) -> "ToyForcing":
        return ToyForcing(self.values[index])

    def to(self, device=None, dtype=None) -> "ToyForcing":
        return self


def grid_sites(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"lon": rng.uniform(-124, -68, n), "lat": rng.uniform(25, 49, n),
         "temp": rng.normal(10, 5, n), "rain": rng.gamma(4, 200, n)},
        index=pd.Index([f"s{i:03d}" for i in range(n)], name="site_id"),
    )


def toy_dataset(n: int = 60, seed: int = 0) -> SiteDataset:
    sites = grid_sites(n, seed)
    rng = np.random.default_rng(seed + 1)
    rows = []
    for i, site in enumerate(sites.index):
        for depth in rng.permutation(rng.uniform(0.05, 1.5, 1 + i % 4)):  # unsorted on purpose
            rows.append((site, depth, 1000.0 * i + depth))
    obs = pd.DataFrame(rows, columns=["site_id", "depth_m", "soc_gC_m3"]).sample(frac=1.0, random_state=1)
    return SiteDataset(sites, obs, ToyForcing(torch.arange(n)), ["temp", "rain"])


# ---------------------------------------------------------------------------------------------
# Padding and order
# ---------------------------------------------------------------------------------------------
def test_observations_padded_in_site_order_sorted_by_depth():
    sites = grid_sites(3)
    obs = pd.DataFrame({"site_id": ["s002", "s000", "s000", "s002", "s002"],
                        "depth_m": [0.5, 0.2, 0.1, 0.05, 0.3],
                        "soc_gC_m3": [1.0, 2.0, 3.0, 4.0, 5.0]})
    ds = SiteDataset(sites, obs, ToyForcing(torch.arange(3)), ["temp"])
    nan = float("nan")
    expected_depth = torch.tensor([[0.1, 0.2, nan], [nan, nan, nan], [0.05, 0.3, 0.5]], dtype=torch.float64)
    expected_soc = torch.tensor([[3.0, 2.0, nan], [nan, nan, nan], [4.0, 5.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(ds.coords, expected_depth, equal_nan=True)
    torch.testing.assert_close(ds.targets, expected_soc, equal_nan=True)
    assert ds.depth is ds.coords and ds.soc is ds.targets
    assert ds.n_obs.tolist() == [2, 0, 3]
    assert ds.coords.dtype == torch.float64
    assert list(ds.observations["site_id"]) == ["s000", "s000", "s002", "s002", "s002"]
    assert len(ds) == 3 and ds.site_ids.tolist() == ["s000", "s001", "s002"]
    assert list(ds.covariates.columns) == ["temp"]


def test_padding_matches_long_table_for_every_site():
    ds = toy_dataset()
    for i, site in enumerate(ds.site_ids):
        rows = ds.observations[ds.observations["site_id"] == site].sort_values("depth_m")
        k = len(rows)
        assert int(ds.n_obs[i]) == k
        np.testing.assert_array_equal(ds.depth[i, :k].numpy(), rows["depth_m"].to_numpy())
        np.testing.assert_array_equal(ds.soc[i, :k].numpy(), rows["soc_gC_m3"].to_numpy())
        assert torch.isnan(ds.depth[i, k:]).all()


def test_constructor_rejects_inconsistent_parts():
    sites = grid_sites(4)
    obs = pd.DataFrame({"site_id": ["s000", "nope"], "depth_m": [0.1, 0.2], "soc_gC_m3": [1.0, 2.0]})
    with pytest.raises(ValueError, match="site_id 'nope' is not in the site table"):
        SiteDataset(sites, obs, ToyForcing(torch.arange(4)), ["temp"])
    good = obs.iloc[:1]
    with pytest.raises(ValueError, match="forcing has 3 sites but the site table has 4"):
        SiteDataset(sites, good, ToyForcing(torch.arange(3)), ["temp"])
    with pytest.raises(ValueError, match="duplicate site_id 's000'"):
        SiteDataset(pd.concat([sites, sites.iloc[:1]]), good, ToyForcing(torch.arange(5)), ["temp"])
    with pytest.raises(ValueError, match="missing column.*'depth'"):
        SiteDataset(sites, good, ToyForcing(torch.arange(4)), ["depth"])
    with pytest.raises(ValueError, match="missing column.*soc_gC_m3"):
        SiteDataset(sites, good.drop(columns="soc_gC_m3"), ToyForcing(torch.arange(4)), ["temp"])


def test_constructor_names_bad_observations_and_arguments():
    sites = grid_sites(3)
    obs = pd.DataFrame({"site_id": ["s000", "s001", "s002"], "depth_m": [0.1, 0.2, 0.3], "soc_gC_m3": [1.0, 2.0, 3.0]})
    forcing = ToyForcing(torch.arange(3))
    for column, value, kind in (("depth_m", np.nan, "a missing"), ("soc_gC_m3", np.inf, "an infinite")):
        bad = obs.copy()
        bad.loc[1, column] = value
        with pytest.raises(BinnInputError, match=rf"observations: column '{column}' has {kind} .* site 's001'"):
            SiteDataset(sites, bad, forcing, ["temp"])  # a NaN would pass for padding, silently
    with pytest.raises(BinnInputError, match="observations: column 'depth_m' is not numeric"):
        SiteDataset(sites, obs.assign(depth_m="0.1"), forcing, ["temp"])
    with pytest.raises(BinnInputError, match="sites must be a pandas DataFrame; got dict"):
        SiteDataset({"temp": [1.0]}, obs, forcing, ["temp"])
    with pytest.raises(BinnInputError, match="forcing must hold one entry per site.*got object"):
        SiteDataset(sites, obs, object(), ["temp"])
    with pytest.raises(BinnInputError, match="sites: column 'temp' has an infinite value at site 's000'"):
        SiteDataset(sites.assign(temp=np.inf), obs, forcing, ["temp"])


# ---------------------------------------------------------------------------------------------
# Subsets
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [[5, 2, 9], np.array([5, 2, 9]), torch.tensor([5, 2, 9])])
def test_subset_by_positions_keeps_order_and_everything_aligned(index):
    ds = toy_dataset()
    sub = ds.subset(index)
    assert sub.site_ids.tolist() == ["s005", "s002", "s009"]
    assert sub.forcing.values.tolist() == [5, 2, 9]
    assert set(sub.observations["site_id"]) == {"s005", "s002", "s009"}
    torch.testing.assert_close(sub.soc[0, : int(sub.n_obs[0])], ds.soc[5, : int(ds.n_obs[5])])


def test_subset_by_mask_and_slice():
    ds = toy_dataset()
    mask = np.zeros(len(ds), dtype=bool)
    mask[[1, 4]] = True
    assert ds.subset(mask).site_ids.tolist() == ["s001", "s004"]
    assert ds.subset(slice(10, 13)).site_ids.tolist() == ["s010", "s011", "s012"]
    assert positions(torch.tensor([True] * 2 + [False] * 58), 60).tolist() == [0, 1]
    with pytest.raises(ValueError, match="unique"):
        ds.subset([1, 1])
    with pytest.raises(ValueError, match="out of range"):
        ds.subset([60])


# ---------------------------------------------------------------------------------------------
# Cross-validation folds
# ---------------------------------------------------------------------------------------------
def _check_partition(folds, n, k):
    assert len(folds) == k
    tests = [test for _, test in folds]
    everything = np.sort(np.concatenate(tests))
    np.testing.assert_array_equal(everything, np.arange(n))  # covering, each site once
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0  # disjoint
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
        assert train.dtype == np.int64 and test.dtype == np.int64


def test_random_split_disjoint_covering_balanced_reproducible():
    ds = toy_dataset(103)
    folds = ds.split(k=10, kind="random", seed=3)
    _check_partition(folds, 103, 10)
    assert sorted(len(t) for _, t in folds) == [10] * 7 + [11] * 3
    again = ds.split(k=10, kind="random", seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    other = ds.split(k=10, kind="random", seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other))


def test_spatial_split_never_shares_a_grid_cell():
    ds = toy_dataset(400, seed=5)
    for cell_deg in (2.0, 5.0):
        folds = ds.split(k=5, kind="spatial", seed=1, cell_deg=cell_deg)
        _check_partition(folds, 400, 5)
        cells = [tuple(c) for c in ds.grid_cells(cell_deg)]
        for train, test in folds:
            assert not {cells[i] for i in train} & {cells[i] for i in test}
        sizes = [len(t) for _, t in folds]
        assert min(sizes) > 0.5 * 400 / 5  # greedy assignment keeps folds of similar size


def test_spatial_cell_is_two_degrees():
    ds = toy_dataset(4)
    ds.sites[["lon", "lat"]] = [[-100.1, 40.1], [-98.1, 41.9], [-99.9, 40.1], [-100.1, 39.9]]
    np.testing.assert_array_equal(ds.grid_cells(), [[-51, 20], [-50, 20], [-50, 20], [-51, 19]])


def test_split_argument_errors():
    ds = toy_dataset(20)
    with pytest.raises(ValueError, match="'random' or 'spatial'"):
        ds.split(kind="blocks")
    with pytest.raises(ValueError, match="k must be an integer >= 2"):
        ds.split(k=1)
    with pytest.raises(ValueError, match="needs at least 21 sites"):
        ds.split(k=21)
    with pytest.raises(ValueError, match="grid cells"):
        ds.split(k=10, kind="spatial", cell_deg=60.0)


# ---------------------------------------------------------------------------------------------
# Normalizer
# ---------------------------------------------------------------------------------------------
def test_normalizer_fitted_on_training_sites_only_and_reusable():
    ds = toy_dataset(50)
    train, test = ds.split(k=5, seed=0)[0]
    norm = ds.fit_normalizer(train)
    cov = ds.covariates
    np.testing.assert_allclose(norm.mean.to_numpy(), cov.iloc[train].mean().to_numpy())
    np.testing.assert_allclose(norm.std.to_numpy(), cov.iloc[train].std(ddof=0).to_numpy())
    assert not np.allclose(norm.mean.to_numpy(), cov.mean().to_numpy())
    z_train = norm.transform(ds.subset(train))
    assert z_train.dtype == torch.float32 and z_train.shape == (len(train), 2)
    torch.testing.assert_close(z_train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(z_train.std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    # reused on new sites (a DataFrame with extra columns in another order)
    new = cov.iloc[test][["rain", "temp"]].assign(other=1.0)
    expected = (cov.iloc[test] - norm.mean) / norm.std
    np.testing.assert_allclose(norm.transform(new).numpy(), expected.to_numpy(), rtol=1e-6)
    back = norm.inverse_transform(norm.transform(new))
    np.testing.assert_allclose(back.to_numpy(), cov.iloc[test].to_numpy(), rtol=1e-5)


def test_normalizer_json_round_trip():
    norm = toy_dataset().fit_normalizer()
    restored = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert restored.feature_names == ("temp", "rain")
    pd.testing.assert_series_equal(restored.mean, norm.mean)
    pd.testing.assert_series_equal(restored.std, norm.std)


def test_normalizer_errors_and_constant_feature():
    sites = grid_sites(5).assign(const=3.0)
    with pytest.warns(UserWarning, match="const"):
        norm = Normalizer.fit(sites, ["temp", "const"])
    assert norm.std["const"] == 1.0
    assert torch.all(norm.transform(sites)[:, 1] == 0)
    with pytest.raises(ValueError, match="missing column.*'rain'"):
        norm2 = Normalizer.fit(sites, ["rain"])
        norm2.transform(sites.drop(columns="rain"))
    bad = sites.copy()
    bad.loc["s003", "temp"] = np.nan
    with pytest.raises(ValueError, match="'temp'.*site 's003'"):
        norm.transform(bad)
    with pytest.raises(ValueError, match="standard deviation of feature .a. must be finite and > 0"):
        Normalizer(pd.Series({"a": 0.0}), pd.Series({"a": 0.0}))


# ---------------------------------------------------------------------------------------------
# Truth alignment (the Truth itself: tests/test_data_truth.py)
# ---------------------------------------------------------------------------------------------
def test_truth_subset_and_dataset_alignment():
    ds = toy_dataset(30)
    params = pd.DataFrame({"k": np.arange(30.0), "c": 5.0}, index=ds.site_ids)
    truth = Truth("toy", params.iloc[::-1])  # in another order: the dataset aligns it with its sites
    ds = SiteDataset(ds.sites, ds.observations, ds.forcing, ds.feature_names, truth)
    pd.testing.assert_frame_equal(ds.truth.params, params)
    sub = ds.subset([4, 0])
    assert sub.truth.params.index.tolist() == ["s004", "s000"]
    pd.testing.assert_frame_equal(sub.truth.params, params.loc[["s004", "s000"]])
    with pytest.raises(ValueError, match="truth has no parameters for site 's029'"):
        SiteDataset(ds.sites, ds.observations, ds.forcing, ds.feature_names, Truth("toy", params.iloc[:-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "truth='toy'" in repr(ds)
