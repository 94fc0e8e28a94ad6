"""binn_lite.two_pool: the template process model, by hand and under a BINN."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import DZ, ZSOI
from binn_lite.data import Truth, make_synthetic, simulate_observations
from binn_lite.dataset import SiteDataset
from binn_lite.heads import MLPHead
from binn_lite.metrics import recovery_table
from binn_lite.train import fit
from binn_lite.two_pool import TwoPoolSoilCarbon
from clm5_factory import make_forcing


def test_two_pool_steady_state_by_hand():
    forcing = make_forcing(1, dtype=torch.float64)
    model = TwoPoolSoilCarbon()
    values = {"tau_fast": 2.0, "tau_slow": 100.0, "humification": 0.3, "efolding": 0.5, "input_depth": 0.2}
    soc = model(model.parameter_table.stack({k: torch.tensor([v], dtype=torch.float64) for k, v in values.items()}),
                forcing)
    share = torch.exp(-ZSOI / 0.2) * DZ
    inputs = forcing.litter_input.sum() * share / share.sum() / DZ  # gC m-3 yr-1
    xi = (2.0 ** ((forcing.soil_temperature[0] - 298.15) / 10)).mean(0) * torch.exp(-ZSOI / 0.5)
    fast, slow = inputs * 2.0 / xi, 0.3 * inputs * 100.0 / xi  # I / k_f and h I / k_s
    torch.testing.assert_close(soc[0], fast + slow)
    # mass balance: respiration k_s S + (1 - h) k_f F equals the input in every layer
    torch.testing.assert_close(xi / 100.0 * slow + 0.7 * xi / 2.0 * fast, inputs)


def test_two_pool_binn_fit_recovers_efolding():
    base = make_synthetic(120, seed=8, noise=0.0)
    model = TwoPoolSoilCarbon()
    z = ((base.sites["bio12"] - base.sites["bio12"].mean()) / base.sites["bio12"].std()).to_numpy()
    params = model.parameter_table.defaults_like(len(base))
    params[:, model.parameter_table.index("efolding")] = torch.from_numpy(0.2 + 0.6 / (1 + np.exp(-2 * z)))
    observations = simulate_observations(model, params, base.forcing, base.coords, base.site_ids)
    truth = Truth("two_pool", pd.DataFrame(params.numpy(), index=base.site_ids, columns=model.parameter_table.names))
    ds = SiteDataset(base.sites, observations, base.forcing, base.feature_names, truth)

    binn = BINN(MLPHead(10, 1, hidden=(32, 32)), model, learn=["efolding"])
    result = fit(binn, ds, np.arange(100), epochs=30, batch_size=25, lr=1e-2, loss="log", patience=30, progress=False)
    assert result.history["train_loss"].iloc[-1] < 0.05 * result.history["train_loss"].iloc[0]
    test = ds.subset(np.arange(100, 120))
    estimated, _ = binn.predict_dataset(test)
    assert recovery_table(estimated[["efolding"]], test.truth.params).loc["efolding", "r2"] > 0.9
