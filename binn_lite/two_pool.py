"""A minimal two-pool soil-carbon model: the template to copy for your own process model.

Per CLM5 soil layer j (node depth z_j, thickness dz_j, no mixing), driven by the CLM5 forcing:
  input   I_j = I f_j / dz_j [gC m-3 yr-1]; I annual litter input [gC m-2 yr-1]; f_j ~ exp(-z_j / input_depth) dz_j
  rates   k_p = xi_j exp(-z_j / efolding) / tau_p [yr-1]; xi_j = 12-month mean of 2^((T - 298.15) / 10)
  steady  dF/dt = I_j - k_f F = 0, dS/dt = h k_f F - k_s S = 0:  SOC = F + S = I_j / k_f + h I_j / k_s [gC m-3]
SOC is read at the observed depths. It fixes only tau_fast + h tau_slow, so learn one of them.
"""
import torch

from .clm5 import DZ, ZSOI, interpolate_to_depths
from .parameters import Parameter, ParameterTable
from .process import ProcessModel


class TwoPoolSoilCarbon(ProcessModel):
    """Fast and slow pool in every layer; forcing: a :class:`binn_lite.clm5.Forcing`."""

    parameter_table = ParameterTable([
        Parameter("tau_fast", 0.5, 10.0, "yr", "fast-pool turnover time at 25 C", 5.25),
        Parameter("tau_slow", 10.0, 500.0, "yr", "slow-pool turnover time at 25 C", 255.0),
        Parameter("humification", 0.05, 0.5, "-", "fraction of fast outflow to the slow pool", 0.275),
        Parameter("efolding", 0.1, 1.0, "m", "depth e-folding of decomposition", 0.55),
        Parameter("input_depth", 0.05, 1.0, "m", "e-folding depth of the litter input", 0.525),
    ])
    most_influential = ("tau_slow", "efolding", "input_depth")

    def forward(self, params: torch.Tensor, forcing) -> torch.Tensor:
        """Steady-state SOC at the 20 CLM5 nodes [batch, 20] in gC m-3."""
        p, forcing = self.parameter_table.as_dict(params), forcing.to(params.device, params.dtype)
        z, dz = ZSOI.to(params), DZ.to(params)
        share = torch.exp(-z / p["input_depth"][:, None]) * dz
        inputs = forcing.litter_input.sum(dim=(1, 2))[:, None] * share / share.sum(1, keepdim=True) / dz
        inverse_xi = torch.exp(z / p["efolding"][:, None]) / (2.0 ** ((forcing.soil_temperature - 298.15) / 10)).mean(1)
        return inputs * (p["tau_fast"] + p["humification"] * p["tau_slow"])[:, None] * inverse_xi  # F + S

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """SOC at observed depths [batch, n_obs] (m), linear between the nodes, NaN kept."""
        return interpolate_to_depths(prediction, coords)
