"""A minimal two-pool soil-carbon model: the template to copy for your own process model.

A fast pool F and a slow pool S in every CLM5 soil layer j (node depth z_j, thickness dz_j; no
mixing between layers), driven by the CLM5 forcing (:class:`binn_lite.clm5.Forcing`):

    litter input   I_j = I f_j / dz_j                                [gC m-3 yr-1]
                   I: annual litter + CWD input [gC m-2 yr-1];  f_j ~ exp(-z_j / input_depth) dz_j, sum_j f_j = 1
    rate modifier  xi_j = mean over 12 months of 2^((T_j - 298.15) / 10)  *  exp(-z_j / efolding)   [-]
    decay rates    k_f = xi_j / tau_fast,  k_s = xi_j / tau_slow     [yr-1]
    dynamics       dF/dt = I_j - k_f F,    dS/dt = h k_f F - k_s S   (h: humification)
    steady state   F = I_j tau_fast / xi_j,  S = h I_j tau_slow / xi_j
    prediction     SOC_j = F + S                                     [gC m-3]

``observe`` reads SOC at the observed depths (linear between the nodes). The data fix only
``tau_fast + h tau_slow``, so learn one of the three and keep the others at their defaults.
"""
import torch

from .clm5 import DZ, ZSOI
from .parameters import Parameter, ParameterTable
from .process import ProcessModel, interpolate

REFERENCE_TEMPERATURE = 298.15  # K, where the temperature response is 1
Q10 = 2.0  # decomposition doubles per 10 K warming


class TwoPoolSoilCarbon(ProcessModel):
    """Steady-state fast and slow pools in every layer; forcing: a :class:`binn_lite.clm5.Forcing`."""

    parameter_table = ParameterTable([
        Parameter("tau_fast", 0.5, 10.0, "yr", "fast-pool turnover time at 25 C", 5.25),
        Parameter("tau_slow", 10.0, 500.0, "yr", "slow-pool turnover time at 25 C", 255.0),
        Parameter("humification", 0.05, 0.5, "-", "fraction of fast outflow to the slow pool", 0.275),
        Parameter("efolding", 0.1, 1.0, "m", "depth e-folding of decomposition", 0.55),
        Parameter("input_depth", 0.05, 1.0, "m", "e-folding depth of the litter input", 0.525),
    ])
    most_influential = ("tau_slow", "efolding", "input_depth")

    def forward(self, params: torch.Tensor, forcing) -> torch.Tensor:
        """Steady-state SOC = F + S at the 20 CLM5 nodes [batch, 20] in gC m-3."""
        p = self.parameter_table.as_dict(params)  # name -> [batch], physical units
        forcing = forcing.to(params.device, params.dtype)
        z, dz = ZSOI.to(params), DZ.to(params)  # node depth, layer thickness [20] (m)

        # Exponentials in depth span hundreds of orders of magnitude here (exp(-z / input_depth) is
        # 1e-70 at 8 m for input_depth = 0.05 m), beyond float32's range: work with logarithms.

        # litter input I_j, spread over the layers [batch, 20] (log of gC m-3 yr-1)
        annual_input = forcing.litter_input.sum(dim=(1, 2))  # [batch] gC m-2 yr-1
        log_weight = -z / p["input_depth"][:, None] + torch.log(dz)  # f_j ~ exp(-z_j / input_depth) dz_j
        log_share = log_weight - torch.logsumexp(log_weight, dim=1, keepdim=True)  # f_j sums to 1
        log_layer_input = torch.log(annual_input)[:, None] + log_share - torch.log(dz)

        # rate modifier xi_j [batch, 20] (log of -): 12-month mean temperature response times exp(-z / efolding)
        temperature_response = (Q10 ** ((forcing.soil_temperature - REFERENCE_TEMPERATURE) / 10)).mean(dim=1)
        log_xi = torch.log(temperature_response) - z / p["efolding"][:, None]

        # steady state of dF/dt = I - k_f F and dS/dt = h k_f F - k_s S, with k = xi / tau (gC m-3)
        input_over_xi = torch.exp(log_layer_input - log_xi)  # I_j / xi_j
        fast = p["tau_fast"][:, None] * input_over_xi
        slow = p["humification"][:, None] * p["tau_slow"][:, None] * input_over_xi
        return fast + slow

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """SOC at the observed depths ``coords`` [batch, n_obs] (m), linear between the nodes, NaN kept."""
        return interpolate(prediction, ZSOI, coords)
