"""binn_lite: Biogeochemistry-Informed Neural Networks, small enough to read.

A neural network (or a KAN head, as in ScIReN) maps site covariates to the
parameters of the CLM5 soil-carbon matrix model; the differentiable matrix
model maps those parameters to soil organic carbon (SOC) profiles; the whole
chain is trained on observed SOC only.
"""

__version__ = "0.1.0"
