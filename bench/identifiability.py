"""How much can SOC observations tell about the four parameters? A Fisher-information check.

For the bundled example, start from the TRUE parameters of every site and scale each of the four
learned parameters by a common factor ``c_k = exp(s_k)`` at all sites. The Hessian ``H`` of the
log-space loss ``mean (log SOC_pred - log SOC_obs)^2`` with respect to ``s`` at ``s = 0`` says how
much a *global* bias along each direction raises the loss: ``dL = s^T H s / 2``.

The loss of the truth itself fluctuates with the observation noise: its standard error is about
``L * sqrt(2 / n)`` for ``n`` observations. A bias whose loss rise is below that cannot be seen in
the data by any method — network, MCMC or otherwise. The script prints, for every eigen-direction,
the bias (in %) that raises the loss by one standard error.

Run: ``python bench/identifiability.py``
"""
from __future__ import annotations

import math

import torch

from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import load_example


def main() -> None:
    data = load_example()
    truth = torch.tensor(data.truth.params[list(CLM5_PARAMETERS.names)].to_numpy())
    observed, depth = data.soc, data.depth
    mask = observed.isfinite()
    model = CLM5()
    index = [CLM5_PARAMETERS.index(name) for name in MOST_INFLUENTIAL]

    def loss(log_scale: torch.Tensor) -> torch.Tensor:
        params = truth.clone()
        params[:, index] = truth[:, index] * torch.exp(log_scale)
        predicted = model.observe(model(params, data.forcing), depth)
        return ((predicted.log() - observed.log())[mask] ** 2).mean()

    zero = torch.zeros(len(index), dtype=torch.float64)
    base = float(loss(zero))
    n = int(mask.sum())
    resolution = base * math.sqrt(2 / n)
    hessian = torch.autograd.functional.hessian(loss, zero)
    eigenvalues, vectors = torch.linalg.eigh(hessian)
    print(f"{n} observations; loss of the true parameters {base:.5f}; its standard error {resolution:.2e}")
    print(f"{'eigenvalue':>11}  {'bias seen at 1 s.e.':>19}  direction ({', '.join(MOST_INFLUENTIAL)})")
    for value, vector in zip(eigenvalues.tolist(), vectors.T):
        bias = 100 * math.sqrt(2 * resolution / value)
        print(f"{value:>11.4f}  {bias:>18.1f}%  [{', '.join(f'{v:+.2f}' for v in vector.tolist())}]")
    weakest = 100 * math.sqrt(2 * resolution / eigenvalues[0].item())
    print(f"weakest direction: a common bias of {weakest:.0f}% is within the noise of {n} observations")


if __name__ == "__main__":
    main()
