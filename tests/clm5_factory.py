"""Small hand-made CLM5 forcings for the unit tests (independent of the data generator)."""
from __future__ import annotations

import torch

from binn_lite.clm5 import ZSOI, Forcing


def make_forcing(n_sites: int = 4, *, alt: float = 3.0, bedrock: int = 20, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> Forcing:
    """Seasonal soil temperature damped with depth, moderate scalars, litter 5-25 gC m-2 month-1."""
    g = torch.Generator().manual_seed(seed)
    month = torch.arange(12, dtype=dtype)
    season = torch.sin(2 * torch.pi * (month - 3) / 12)[None, :, None]
    damping = torch.exp(-ZSOI.to(dtype) / 2)[None, None, :]
    mean_t = 283.15 + 3 * torch.randn(n_sites, 1, 1, generator=g, dtype=dtype)
    temperature = (mean_t + 10 * season * damping).expand(n_sites, 12, 20).clone()

    def uniform(low, high, *shape):
        return low + (high - low) * torch.rand(*shape, generator=g, dtype=dtype)

    altmax = torch.full((n_sites, 12), float(alt), dtype=dtype)
    return Forcing(
        litter_input=uniform(5, 25, n_sites, 12, 4),
        soil_temperature=temperature,
        water_scalar=uniform(0.05, 0.3, n_sites, 12, 20),
        oxygen_scalar=uniform(0.5, 1.0, n_sites, 12, 20),
        nitrogen_scalar=uniform(0.3, 1.0, n_sites, 12, 20),
        altmax=altmax,
        altmax_lastyear=altmax.clone(),
        bedrock=torch.full((n_sites,), bedrock),
    )


#: (active-layer depth m, layers above bedrock): bioturbation, permafrost, no active layer,
#: shallow bedrock, permafrost over bedrock
REGIMES = [(3.0, 20), (1.0, 20), (0.0, 20), (3.0, 6), (1.5, 9)]


def depths_for(n_sites: int) -> torch.Tensor:
    """Observation depths 5, 20, 50, 100 cm at every site; the first site's last one is NaN padding."""
    d = torch.tensor([[0.05, 0.2, 0.5, 1.0]], dtype=torch.float64).repeat(n_sites, 1)
    d[0, -1] = float("nan")
    return d
