"""CLM5 data sets with a known truth and small BINNs, shared by the training and baseline tests."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import Truth, make_synthetic, simulate_observations
from binn_lite.dataset import SiteDataset
from binn_lite.heads import MLPHead

#: the table of the four most influential CLM5 parameters (unit <-> physical)
FOUR = CLM5_PARAMETERS.subset(MOST_INFLUENTIAL)


def efolding_dataset(n_sites: int = 120, seed: int = 3) -> SiteDataset:
    """CLM5 sites where only ``efolding`` varies (with mean annual temperature), no noise."""
    base = make_synthetic(n_sites, seed=seed, noise=0.0)
    z = (base.sites["bio1"] - base.sites["bio1"].mean()) / base.sites["bio1"].std()
    params = CLM5_PARAMETERS.defaults_like(n_sites)
    efolding = 0.25 + 0.6 / (1.0 + np.exp(-1.5 * z.to_numpy()))
    params[:, CLM5_PARAMETERS.index("efolding")] = torch.from_numpy(efolding)
    observations = simulate_observations(CLM5(), params, base.forcing, base.coords, base.site_ids)
    truth = Truth("efolding", pd.DataFrame(params.numpy(), index=base.site_ids, columns=CLM5_PARAMETERS.names))
    return SiteDataset(base.sites, observations, base.forcing, base.feature_names, truth)


def small_binn(n_inputs: int = 10, learn=("efolding",), seed: int = 0) -> BINN:
    """A BINN with a small MLP head (two hidden layers of 32) that learns ``learn`` of CLM5."""
    return BINN(MLPHead(n_inputs, len(learn), hidden=(32, 32), seed=seed), CLM5(), learn=list(learn))


def with_observations(ds: SiteDataset, unit: torch.Tensor, depths: np.ndarray | None = None,
                      noise: float = 0.0, seed: int = 0) -> SiteDataset:
    """``ds`` with new SOC observations simulated from unit values ``[n_sites, 4]`` of the four
    most influential parameters (others at their defaults), at ``depths`` (default: ds's own)."""
    n = len(ds)
    params = CLM5_PARAMETERS.defaults_like(n)
    params[:, [CLM5_PARAMETERS.index(p) for p in MOST_INFLUENTIAL]] = FOUR.to_physical(unit)
    if depths is None:
        coords = ds.coords
    else:
        coords = torch.as_tensor(depths, dtype=torch.float64).expand(n, -1)
    soc = CLM5().predict(params, ds.forcing, coords)
    rng = np.random.default_rng(seed)
    rows = []
    for i, site in enumerate(ds.site_ids):
        for z, y in zip(coords[i].tolist(), soc[i].tolist()):
            if math.isfinite(z):
                rows.append({"site_id": site, "depth_m": z, "soc_gC_m3": y * math.exp(noise * rng.normal())})
    return SiteDataset(ds.sites, pd.DataFrame(rows), ds.forcing, ds.feature_names)
