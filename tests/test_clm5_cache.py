"""The CLM5 cache (CLM5.precompute): the same results and gradients as the forcing, and its refusals."""
import pickle

import numpy as np
import pytest
import torch

from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL, Forcing
from binn_lite.clm5_cache import CLM5Cache
from binn_lite.errors import BinnInputError
from clm5_factory import REGIMES, make_forcing

NAMES = CLM5_PARAMETERS.names


pytestmark = pytest.mark.usefixtures("float64_by_default")  # tensors in float64 (conftest.py)


def every_regime(sites_per_regime=2):
    """Bioturbation, permafrost, no active layer, shallow bedrock: two sites each."""
    return Forcing.concat([make_forcing(sites_per_regime, alt=alt, bedrock=bedrock, seed=k)
                           for k, (alt, bedrock) in enumerate(REGIMES)])


def unit_params(n, seed):
    return torch.rand(n, len(NAMES), generator=torch.Generator().manual_seed(seed))


def assert_same_model(varying, forcing, built_at, evaluated_at):
    """Cached and plain model agree at ``evaluated_at`` (unit values, only ``varying`` columns
    differ from ``built_at``): SOC and its gradient with respect to the varying columns, 1e-10."""
    model = CLM5()
    columns = [NAMES.index(name) for name in varying]
    unit = built_at.clone()
    unit[:, columns] = evaluated_at[:, columns]
    cache = model.precompute(forcing, CLM5_PARAMETERS.to_physical(built_at), varying)
    results = []
    for where in (forcing, cache):
        u = unit.clone().requires_grad_(True)
        soc = model(CLM5_PARAMETERS.to_physical(u), where)
        weights = torch.linspace(0.5, 1.5, soc.numel()).reshape(soc.shape) / soc.detach().amax(dim=1, keepdim=True)
        (grad,) = torch.autograd.grad((soc * weights).sum(), u)
        results.append((soc.detach(), grad[:, columns]))
    (soc, grad), (soc_cached, grad_cached) = results
    torch.testing.assert_close(soc_cached, soc, rtol=1e-10, atol=0)
    scale = float(grad.abs().max()) if columns else 0.0
    torch.testing.assert_close(grad_cached, grad, rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.parametrize("varying", [MOST_INFLUENTIAL, NAMES, (), *[(name,) for name in NAMES]],
                         ids=["most_influential", "all", "none", *NAMES])
def test_cached_model_equals_the_plain_model(varying):
    assert_same_model(varying, every_regime(), unit_params(10, 0), unit_params(10, 1))


@pytest.mark.parametrize("w_scaling", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_water_saturation_is_the_same_at_every_w_scaling(w_scaling):
    """From no month saturated (xi_W = w w_scaling < 1) to all of them (xi_W = 1)."""
    evaluated = unit_params(10, 2)
    evaluated[:, NAMES.index("w_scaling")] = w_scaling
    assert_same_model(MOST_INFLUENTIAL, every_regime(), unit_params(10, 3), evaluated)


@pytest.mark.parametrize("index", [3, torch.tensor(5), slice(2, 7), [7, 1, 1], np.array([0, 9]), torch.tensor([4, 2]),
                                   np.arange(10) % 3 == 0, torch.arange(10) >= 6],
                         ids=["int", "0-d tensor", "slice", "list", "numpy", "tensor", "numpy mask", "torch mask"])
def test_a_subset_of_the_cache_equals_the_subset_of_the_forcing(index):
    forcing, model = every_regime(), CLM5()
    params = CLM5_PARAMETERS.to_physical(unit_params(10, 4))
    cache = model.precompute(forcing, params, MOST_INFLUENTIAL)
    subset = cache[index]
    assert isinstance(subset, CLM5Cache) and len(subset) == len(forcing[index])
    expected = model(params[rows(index)], forcing[index])
    torch.testing.assert_close(model(params[rows(index)], subset), expected, rtol=1e-10, atol=0)


def test_the_forcing_of_a_subset_of_a_subset_is_taken_when_asked_for():
    """A minibatch of a cache indexes its forcing only when something needs it, and then the right sites."""
    forcing, model = every_regime(), CLM5()
    params = CLM5_PARAMETERS.to_physical(unit_params(10, 5))
    cache = model.precompute(forcing, params, MOST_INFLUENTIAL)
    subset = cache[[9, 2, 5, 7]][1:]
    soc = model(params[[2, 5, 7]].clone().requires_grad_(True), subset)  # as fit trains
    soc.sum().backward()
    assert subset._forcing_index is not None  # training did not need the forcing: not taken
    expected = forcing[[9, 2, 5, 7]][1:]
    for name in ("litter_input", "soil_temperature", "water_scalar", "bedrock"):
        torch.testing.assert_close(getattr(subset.forcing, name), getattr(expected, name), rtol=0, atol=0)
    torch.testing.assert_close(model.mass_balance(params[[2, 5, 7]], subset),
                               model.mass_balance(params[[2, 5, 7]], expected), rtol=0, atol=1e-14)


def rows(index):
    """The same selection for a parameter tensor."""
    if isinstance(index, int):
        return [index]
    if isinstance(index, torch.Tensor) and index.ndim == 0:
        return index.reshape(1)
    return torch.as_tensor(index) if isinstance(index, np.ndarray) else index


def test_the_cache_refuses_other_fixed_values():
    forcing, model = make_forcing(4), CLM5()
    params = CLM5_PARAMETERS.defaults_like(4)
    cache = model.precompute(forcing, params, MOST_INFLUENTIAL)
    changed = params.clone()
    changed[2, NAMES.index("tau_s1")] *= 1.01
    with pytest.raises(BinnInputError, match=r"built with 'tau_s1' = .* site 2 now has .*varying"):
        model(changed, cache)
    learned = params.clone()
    learned[:, NAMES.index("tau_s3")] = 100.0  # a varying column may change
    torch.testing.assert_close(model(learned, cache), model(learned, forcing), rtol=1e-10, atol=0)


def test_the_cache_refuses_parameters_of_another_set_of_sites():
    forcing, model = make_forcing(6), CLM5()
    params = CLM5_PARAMETERS.defaults_like(6)
    cache = model.precompute(forcing, params, MOST_INFLUENTIAL)
    with pytest.raises(BinnInputError, match=r"parameters are for 4 sites but the CLM5 cache holds 6.*cache\[index\]"):
        model(params[:4], cache)
    with pytest.raises(BinnInputError, match="parameters are for 6 sites but the CLM5 cache holds 2"):
        model(params, cache[[0, 1]])


def test_precompute_rejects_bad_arguments():
    forcing, model = make_forcing(3), CLM5()
    params = CLM5_PARAMETERS.defaults_like(3)
    with pytest.raises(BinnInputError, match="unknown CLM5 parameter.*'tau_s4'"):
        model.precompute(forcing, params, ["tau_s3", "tau_s4"])
    with pytest.raises(BinnInputError, match="must be a binn_lite Forcing"):
        model.precompute({"litter_input": 1}, params, MOST_INFLUENTIAL)
    with pytest.raises(BinnInputError, match="parameters are for 2 sites but the forcing has 3"):
        model.precompute(forcing, params[:2], MOST_INFLUENTIAL)
    with pytest.raises(BinnInputError, match="are these unit values"):  # the ranges, as for model(params, forcing)
        model.precompute(forcing, torch.zeros(3, 21), MOST_INFLUENTIAL)


def test_training_dtype_float32():
    """Built from the float32 forcing and parameters a float32 run uses, the cache gives what they give."""
    forcing, model = every_regime().to(dtype=torch.float32), CLM5()
    params = CLM5_PARAMETERS.to_physical(unit_params(10, 5)).float()
    cache = model.precompute(forcing, params, MOST_INFLUENTIAL).to(dtype=torch.float32)
    learned = params.clone()
    learned[:, NAMES.index("efolding")] = 0.3
    soc = model(learned, cache)
    assert soc.dtype == torch.float32
    torch.testing.assert_close(soc, model(learned, forcing), rtol=1e-6, atol=0)


def test_one_parameter_vector_steady_state_mass_balance_and_simulate_accept_the_cache():
    forcing, model = make_forcing(3, alt=1.5, bedrock=12), CLM5()
    defaults = CLM5_PARAMETERS.default
    cache = model.precompute(forcing, defaults, ["efolding"])
    assert repr(cache) == "CLM5Cache(3 sites, varying=(efolding), cpu)"
    torch.testing.assert_close(model(defaults, cache), model(defaults, forcing), rtol=1e-10, atol=0)
    torch.testing.assert_close(model.steady_state(defaults, cache), model.steady_state(defaults, forcing),
                               rtol=1e-10, atol=0)
    assert float(model.mass_balance(defaults, cache).abs().max()) < 1e-9
    run = model.simulate(defaults, cache, years=3)
    torch.testing.assert_close(run.pools, model.simulate(defaults, forcing, years=3).pools, rtol=1e-12, atol=0)
    assert cache.to("cpu") is cache and cache.dtype == torch.float64


def test_a_subset_of_a_subset_reads_its_own_sites_month_sums():
    """A minibatch keeps its parent's month sums (not copied) with the rows of its sites in them; SOC
    at any ``w_scaling`` equals the forcing's, and moving it to a device takes its own rows only."""
    forcing, model = every_regime(), CLM5()
    built, evaluated = unit_params(10, 6), unit_params(10, 7)
    cache = model.precompute(forcing, CLM5_PARAMETERS.to_physical(built), MOST_INFLUENTIAL)
    subset = cache[[9, 2, 5, 7, 0]][torch.tensor([3, 1, 4])]  # sites 7, 2, 0
    assert subset.parts["water_sums"] is cache.parts["water_sums"]
    unit = built.clone()
    unit[:, NAMES.index("w_scaling")] = evaluated[:, NAMES.index("w_scaling")]
    params = CLM5_PARAMETERS.to_physical(unit)[[7, 2, 0]]
    torch.testing.assert_close(model(params, subset), model(params, forcing[[7, 2, 0]]), rtol=1e-10, atol=0)
    moved = subset.to("meta")
    assert moved.parts["water_sums"].shape == (3, *cache.parts["water_sums"].shape[1:])
    assert moved._sums_rows is None
    saved = pickle.loads(pickle.dumps(subset))  # saved (or deep-copied) with its own rows only, the right ones
    assert saved.parts["water_sums"].shape[0] == 3 and saved._sums_rows is None and len(saved.forcing) == 3
    torch.testing.assert_close(model(params, saved), model(params, forcing[[7, 2, 0]]), rtol=1e-10, atol=0)
