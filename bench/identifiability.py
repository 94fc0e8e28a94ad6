"""How well can SOC observations pin down the four parameters? A Fisher-information check.

For the bundled example, start from the TRUE parameters of every site and scale each of the four
learned parameters by a common factor ``c_k = exp(s_k)`` at all sites. ``H``, the Hessian of the
log-space loss ``L(s) = mean (log SOC_pred - log SOC_obs)^2`` at ``s = 0``, says how fast a *global*
bias along each direction raises the loss: ``dL = s^T H s / 2``.

With Gaussian noise of standard deviation ``sigma`` on log SOC and ``n`` observations the negative
log-likelihood is ``n L / (2 sigma^2)``, so the Fisher information of ``s`` is ``n H / (2 sigma^2)``
and the smallest bias the data can resolve (one standard deviation of the maximum-likelihood
estimate) along an eigen-direction with eigenvalue ``lambda`` is ``sqrt(2 sigma^2 / (n lambda))``.
``sigma^2`` is estimated by the loss of the true parameters. The script also finds the
maximum-likelihood scalings themselves (L-BFGS from the truth): they must lie within a few of those
standard deviations of 0.

What it does not say: this is the information about *four* numbers shared by all sites. A network
must also learn how the parameters vary between sites, with many more degrees of freedom; if it may
use every covariate for every parameter, it can trade parameters off along the weak directions
between groups of sites. That is why the KAN is pruned before it is refitted (``fit_and_prune``).

Run: ``python bench/identifiability.py``
"""
from __future__ import annotations

import math

import torch

from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import load_example


def main() -> None:
    torch.set_num_threads(1)
    data = load_example()
    truth = torch.tensor(data.truth.params[list(CLM5_PARAMETERS.names)].to_numpy())
    observed, depth = data.soc, data.depth
    mask = observed.isfinite()
    model = CLM5(solver="dense")  # the dense solve has exact second derivatives (the adjoints do not)
    index = [CLM5_PARAMETERS.index(name) for name in MOST_INFLUENTIAL]

    def loss(log_scale: torch.Tensor) -> torch.Tensor:
        params = truth.clone()
        params[:, index] = truth[:, index] * torch.exp(log_scale)
        predicted = model.observe(model(params, data.forcing), depth)
        return ((predicted.log() - observed.log())[mask] ** 2).mean()

    zero = torch.zeros(len(index), dtype=torch.float64)
    sigma2 = float(loss(zero))
    n = int(mask.sum())
    hessian = torch.autograd.functional.hessian(loss, zero)
    eigenvalues, vectors = torch.linalg.eigh(hessian)
    print(f"{n} observations at {len(data)} sites; loss of the true parameters {sigma2:.5f} "
          f"(noise sd on log SOC {math.sqrt(sigma2):.3f})")
    print(f"{'eigenvalue':>11}  {'1-sd resolvable bias':>20}  direction ({', '.join(MOST_INFLUENTIAL)})")
    for value, vector in zip(eigenvalues.tolist(), vectors.T):
        bias = 100 * math.sqrt(2 * sigma2 / (n * value))
        print(f"{value:>11.4f}  {bias:>19.1f}%  [{', '.join(f'{v:+.2f}' for v in vector.tolist())}]")

    covariance = 2 * sigma2 / n * torch.linalg.inv(hessian)
    scale = zero.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([scale], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = loss(scale)
        value.backward()
        return value

    optimiser.step(closure)
    estimate = scale.detach()
    sd = covariance.diagonal().sqrt()
    print("maximum-likelihood common scalings of the truth (should be ~1):")
    for name, s, e in zip(MOST_INFLUENTIAL, estimate.tolist(), sd.tolist()):
        print(f"  {name:<10} x{math.exp(s):.4f}   ({s / e:+.1f} sd; 1 sd = {100 * e:.1f}%)")
    weakest = 100 * math.sqrt(2 * sigma2 / (n * eigenvalues[0].item()))
    print(f"weakest direction: a common bias of {weakest:.1f}% is one standard deviation for {n} observations")


if __name__ == "__main__":
    main()
