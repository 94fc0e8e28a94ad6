"""The CLM5 matrix model: mass balance, solver agreement, time stepping, gradients, edge cases."""
import math

import pytest
import torch

from binn_lite.clm5 import (
    CLM5, CLM5_PARAMETERS, DZ, N_LAYERS, RATE_FLOOR, ZSOI, diffusivity, heterotrophic_respiration,
    input_allocation, input_profile, interface_conductance, system_matrix,
    transfer_matrix, validate_parameters, vertical_transport, soc_stock, spin_up,
)
from clm5_factory import REGIMES, make_forcing

from binn_lite.data import make_synthetic
from binn_lite.errors import BinnInputError



pytestmark = pytest.mark.usefixtures("float64_by_default")  # tensors in float64 (conftest.py)


def random_params(n_sites, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return CLM5_PARAMETERS.to_physical(torch.rand(n_sites, len(CLM5_PARAMETERS), generator=g, dtype=dtype))


def compare_profiles(a, b, rtol, floor=1e-6):
    """Relative error where |b| > floor * max|b| (per site), absolute (scaled by max) below."""
    scale = b.abs().flatten(1).max(dim=1).values.reshape(-1, *([1] * (b.ndim - 1)))
    big = b.abs() > floor * scale
    rel = torch.where(big, (a - b).abs() / b.abs().clamp_min(1e-300), torch.zeros_like(b))
    small = torch.where(big, torch.zeros_like(b), (a - b).abs() / scale)
    assert rel.max() < rtol, f"relative error {rel.max():.3e}"
    assert small.max() < rtol * floor, f"absolute error {small.max():.3e}"


@pytest.mark.parametrize("alt,bedrock", REGIMES)
def test_mass_balance_input_equals_respiration(alt, bedrock):
    forcing = make_forcing(6, alt=alt, bedrock=bedrock)
    params = random_params(6)
    pools = CLM5().steady_state(params, forcing)
    total_input = forcing.litter_input.sum(dim=(1, 2)) / 365.0
    total_respiration = (heterotrophic_respiration(params, forcing, pools) * DZ).sum(dim=1)
    rel = ((total_input - total_respiration) / total_input).abs().max()
    assert rel < 1e-9


def test_input_allocation_integrates_to_the_input():
    forcing = make_forcing(3)
    params = random_params(3)
    allocated = (input_allocation(params, forcing) * DZ).sum(dim=2)[:, :4]
    expected = forcing.litter_input.sum(dim=1) / 365.0
    torch.testing.assert_close(allocated, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(input_profile(params, forcing).sum(dim=1), torch.ones(3), rtol=1e-12, atol=0)


def test_no_active_layer_puts_all_input_in_the_top_layer():
    forcing = make_forcing(2, alt=0.0)
    profile = input_profile(random_params(2), forcing)
    assert torch.equal(profile[:, 0], torch.ones(2)) and torch.equal(profile[:, 1:], torch.zeros(2, 19))


@pytest.mark.parametrize("alt,bedrock", REGIMES)
def test_vertical_transport_conserves_mass_and_stops_at_bedrock(alt, bedrock):
    forcing = make_forcing(2, alt=alt, bedrock=bedrock)
    v = vertical_transport(random_params(2), forcing)
    column_sums = (DZ[None, :, None] * v).sum(dim=1)  # d/dt of total mass for a unit in each layer
    assert column_sums.abs().max() < 1e-15
    g = interface_conductance(random_params(2), forcing)
    assert torch.all(g[:, bedrock - 1:] == 0)
    from binn_lite.clm5 import ZISOI
    mixing = ZISOI[1:] < (3.0 if alt <= 2 else 99.0)  # cryoturbation ends at 3 m, bioturbation does not
    mixing[bedrock - 1:] = False
    mixing &= alt > 0  # no active layer: no mixing at all
    assert torch.all(g[:, mixing] > 1e-12) and torch.all(g[:, ~mixing] < 1e-30)


def test_diffusivity_profiles_follow_the_spec():
    params = random_params(1)
    bio, cryo = float(params[0, 0]), float(params[0, 1])
    d_bio = diffusivity(params, make_forcing(1, alt=2.5))
    assert torch.allclose(d_bio, torch.full_like(d_bio, bio))
    d = diffusivity(params, make_forcing(1, alt=1.0))[0, 0]
    from binn_lite.clm5 import ZISOI
    for j, z in enumerate(ZISOI.tolist()):
        expected = cryo if z < 1.0 else (cryo * (1 - (z - 1.0) / 2.0) if z <= 3.0 else 1e-30)
        assert math.isclose(float(d[j]), max(expected, 1e-30), rel_tol=1e-12)
    assert torch.all(diffusivity(params, make_forcing(1, alt=0.0)) == 1e-30)


def test_transfer_matrix_columns():
    params = random_params(5)
    a = transfer_matrix(params)
    assert torch.all(torch.diagonal(a, dim1=1, dim2=2) == -1)
    respired = -a.sum(dim=1)
    assert torch.allclose(respired[:, 0], torch.zeros(5), atol=1e-15)  # CWD respires nothing
    assert torch.all(respired[:, 1:] > 0)


def test_solve_stages_follow_the_carbon_flow_and_mixing():
    """The staged solve needs every transfer to go to the same or a later stage (CWD -> litter -> SOM)."""
    from binn_lite.clm5 import _MOBILE, _STAGES, _TRANSFERS, POOLS
    stage_of = {name: k for k, stage in enumerate(_STAGES) for name in POOLS[stage.compartments]}
    assert list(stage_of) == list(POOLS)
    for receiver, donor in _TRANSFERS:
        assert stage_of[donor] <= stage_of[receiver], (donor, receiver)
    for k, stage in enumerate(_STAGES):
        names = POOLS[stage.compartments]
        assert stage.exchange == any(stage_of[r] == stage_of[d] == k for r, d in _TRANSFERS)
        assert {bool(_MOBILE[POOLS.index(name)]) for name in names} == {stage.mixing}


@pytest.mark.parametrize("alt,bedrock", REGIMES)
def test_block_solver_matches_dense_solver_values_and_gradients(alt, bedrock):
    forcing = make_forcing(3, alt=alt, bedrock=bedrock)
    unit = torch.rand(3, 21, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    outputs = {}
    for solver in ("block", "dense"):
        pools = CLM5(solver).steady_state(CLM5_PARAMETERS.to_physical(unit), forcing)
        weights = torch.linspace(0.5, 1.5, pools.numel()).reshape(pools.shape)
        (grad,) = torch.autograd.grad((pools.clamp_max(1e12) * weights).sum(), unit)
        outputs[solver] = (pools.detach(), grad)
    compare_profiles(outputs["block"][0], outputs["dense"][0], rtol=1e-10)
    torch.testing.assert_close(outputs["block"][1], outputs["dense"][1], rtol=1e-8, atol=1e-8 * outputs["dense"][1].abs().max())


def test_gradcheck_through_the_whole_model():
    forcing = make_forcing(2, alt=1.5, bedrock=12)
    unit = torch.rand(2, 21, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    depths = torch.tensor([[0.05, 0.3, 1.0], [0.1, 0.5, float("nan")]])
    model = CLM5()

    def soc_at_depths(u):
        return model.observe(model(CLM5_PARAMETERS.to_physical(u), forcing), depths).nan_to_num() / 1e4

    assert torch.autograd.gradcheck(soc_at_depths, (unit,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_simulate_from_zero_converges_to_the_steady_state():
    forcing = make_forcing(3, alt=1.5, bedrock=15)
    params = CLM5_PARAMETERS.defaults_like(3)
    params[:, CLM5_PARAMETERS.index("tau_s3")] = 20.0
    params[:, CLM5_PARAMETERS.index("efolding")] = 1.0
    model = CLM5()
    steady = model.steady_state(params, forcing)
    early = model.simulate(params, forcing, years=50, dt_days=365).pools[:, -1]
    spun_up = model.simulate(params, forcing, years=2e6, dt_days=365 * 2000).pools[:, -1]
    soc = lambda x: x[:, 4:].sum(dim=1)
    assert (soc(early) / soc(steady)).max() < 0.95  # 50 years is not enough
    compare_profiles(spun_up, steady, rtol=1e-8)


def test_implicit_steps_agree_with_the_exact_solution():
    """Implicit Euler converges (first order) to x(t) = x* + expm(-M t)(x0 - x*)."""
    forcing = make_forcing(1, alt=3.0, bedrock=20)
    params = CLM5_PARAMETERS.defaults_like(1)
    params[:, CLM5_PARAMETERS.index("tau_l1")] = 0.05  # keep the exponential well-conditioned
    model = CLM5()
    matrix = system_matrix(params, forcing)[0]  # layer by layer
    steady = model.steady_state(params, forcing)
    x0 = 2 * steady
    t_days = 10 * 365.0
    exact = steady.transpose(1, 2).reshape(-1) + torch.linalg.matrix_exp(-matrix * t_days) @ (x0 - steady).transpose(1, 2).reshape(-1)
    exact = exact.reshape(1, N_LAYERS, 7).transpose(1, 2)
    errors = []
    for dt in (36.5, 3.65):
        x = model.simulate(params, forcing, years=10, x0=x0, dt_days=dt, record_every=10**6).pools[:, -1]
        errors.append(((x - exact)[:, 4:].sum(1).abs() / exact[:, 4:].sum(1)).max().item())
    assert errors[1] < 2e-3
    assert 5 < errors[0] / errors[1] < 20  # first-order convergence: error / 10 for dt / 10


def test_float32_agrees_with_float64():
    forcing = make_forcing(8, alt=1.5, bedrock=15)
    params = random_params(8)
    soc64 = CLM5()(params, forcing)
    soc32 = CLM5()(params.float(), forcing)
    assert soc32.dtype == torch.float32
    compare_profiles(soc32.double(), soc64, rtol=1e-3)


def test_float32_agrees_with_float64_at_mixed_corners_of_the_parameter_cube():
    """Slow decomposition against fast mixing makes the system nearly singular: rounding it to float32
    changed SOC by up to 139 % at such corners before CLM5 solved it in float64 (SYSTEM_DTYPE)."""
    data = make_synthetic(100, seed=4)
    generator = torch.Generator().manual_seed(0)
    unit = torch.randint(0, 2, (100, 21), generator=generator, dtype=torch.float64)
    depths, model = data.coords, CLM5()
    soc64 = model.observe(model(CLM5_PARAMETERS.to_physical(unit), data.forcing), depths)
    u32 = unit.float().requires_grad_(True)
    soc32 = model.observe(model(CLM5_PARAMETERS.to_physical(u32), data.forcing.to(dtype=torch.float32)), depths.float())
    assert soc32.dtype == torch.float32
    observed = ~torch.isnan(depths)
    assert float(((soc32.detach().double() - soc64) / soc64)[observed].abs().max()) < 1e-3
    torch.log(soc32[observed]).sum().backward()
    assert torch.isfinite(u32.grad).all()


@pytest.mark.parametrize("corner", [0.0, 1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alt,bedrock", REGIMES)
def test_extreme_corners_are_finite(corner, dtype, alt, bedrock):
    forcing = make_forcing(2, alt=alt, bedrock=bedrock)
    params = CLM5_PARAMETERS.to_physical(torch.full((2, 21), corner, dtype=dtype))
    soc = CLM5()(params, forcing)
    assert torch.isfinite(soc).all() and (soc >= 0).all()
    params.requires_grad_(True)
    # SOC can be exactly 0 (no active layer: nothing reaches depth), so no log here
    soc_obs = CLM5().observe(CLM5()(params, forcing), torch.tensor([[0.1, 0.5], [0.2, 1.0]], dtype=dtype))
    loss = ((soc_obs - 1e4) / 1e4).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, params)
    assert torch.isfinite(grad).all()


def test_zero_water_scalar_hits_the_rate_floor_not_nan():
    forcing = make_forcing(1)
    forcing.water_scalar.zero_()
    soc = CLM5()(random_params(1), forcing)
    assert torch.isfinite(soc).all()
    assert soc.max() > 1e12  # nothing decomposes: astronomically large, a sign the forcing is wrong
    assert RATE_FLOOR == 1e-30


def test_outflow_fractions_above_one_are_rejected_with_the_pool_named():
    params = CLM5_PARAMETERS.defaults_like(3)
    params[1, CLM5_PARAMETERS.index("fs2s1")] = 0.95
    params[1, CLM5_PARAMETERS.index("fs2s3")] = 0.1
    with pytest.raises(ValueError, match=r"pool 'som2'.*1\.05 > 1 at site 1"):
        validate_parameters(params)
    bad = CLM5_PARAMETERS.defaults_like(3)
    bad[2, CLM5_PARAMETERS.index("tau_s1")] = 0.0
    with pytest.raises(BinnInputError, match=r"CLM5: value of 'tau_s1' must be finite and in \[0.0001, 0.5\] yr; "
                                             r"site 2 has 0.*allow_out_of_range"):
        CLM5()(bad, make_forcing(3))
    exploring = CLM5()
    exploring.allow_out_of_range = True  # outside the table, the model's own rules still apply
    with pytest.raises(ValueError, match=r"parameter 'tau_s1' must be > 0; site 2"):
        exploring(bad, make_forcing(3))
    with pytest.raises(ValueError, match=r"shape \[batch, 21\]"):
        CLM5()(torch.ones(3, 20), make_forcing(3))
    with pytest.raises(ValueError, match="parameters are for 2 sites but the forcing has 3"):
        CLM5()(CLM5_PARAMETERS.defaults_like(2), make_forcing(3))


@pytest.mark.parametrize("name, value, rule", [
    ("q10", 0.0, "must be > 0"), ("tau_s3", -0.0, "must be > 0"), ("efolding", 5e-324, None),
    ("bio", -5e-324, "must be >= 0"), ("w_scaling", -0.0, None), ("cryo", 0.0, None),
    ("fs1s3", 0.0, None), ("fs1s3", 1.0 + 1e-6, "must be in \\[0, 1\\]"), ("fcwdl2", 1.0, None),
    ("beta", 1.0, "must be in \\(0, 1\\)"), ("beta", 0.0, "must be in \\(0, 1\\)"), ("beta", 1.0 - 1e-16, None),
    ("tau_cwd", math.inf, "must be finite"), ("fl1s1", math.nan, "must be finite"),
])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_each_rule_holds_on_its_edge(name, value, rule, dtype):
    """validate_parameters accepts or rejects a value on the edge of its rule, in float64 and float32
    (where 5e-324 and 1 - 1e-16 round to 0 and 1)."""
    params = CLM5_PARAMETERS.defaults_like(2).to(dtype)
    params[1, CLM5_PARAMETERS.index(name)] = value
    rounded = float(params[1, CLM5_PARAMETERS.index(name)])
    if rounded != value and rounded in (0.0, 1.0):  # float32 rounded it onto the edge: judged as what it became
        rule = {("efolding", 0.0): "must be > 0", ("bio", -0.0): None, ("beta", 1.0): "must be in \\(0, 1\\)"}[
            (name, rounded)]
    if rule is None:
        validate_parameters(params)
    else:
        with pytest.raises(BinnInputError, match=f"parameter {name!r} {rule}; site 1"):
            validate_parameters(params)


def test_single_parameter_vector_is_used_for_every_site():
    forcing = make_forcing(3)
    soc = CLM5()(CLM5_PARAMETERS.default, forcing)
    torch.testing.assert_close(soc, CLM5()(CLM5_PARAMETERS.defaults_like(3), forcing))


def test_steady_state_shapes_and_soc_is_som_sum():
    forcing = make_forcing(2)
    params = random_params(2)
    pools = CLM5().steady_state(params, forcing)
    assert pools.shape == (2, 7, 20)
    torch.testing.assert_close(CLM5()(params, forcing), pools[:, 4:].sum(dim=1))


# ---------------------------------------------------------------------------------------------
# stocks and spin-up
# ---------------------------------------------------------------------------------------------
def test_soc_stock_sums_som_pools_times_thickness():
    pools = torch.zeros(1, 7, N_LAYERS, dtype=torch.float64)
    pools[0, 4:7] = 1000.0  # gC m-3 in each SOM pool
    pools[0, 0:4] = 5e5  # litter and CWD are not SOC
    assert float(soc_stock(pools)) == pytest.approx(3000.0 * 8.6)
    assert float(soc_stock(pools, max_depth=1.2)) == pytest.approx(3000.0 * 1.2)


def test_spin_up_reaches_the_steady_state():
    forcing = make_forcing(2)
    defaults = CLM5_PARAMETERS.default
    trajectory = spin_up(defaults, forcing, schedule=[(10, 1), (1_000, 100), (1_000_000, 10_000)])
    years = trajectory.years
    assert len(years) == 1 + 10 + 10 + 100 and years[0] == 0 and bool((years.diff() > 0).all())
    assert float(years[-1]) == pytest.approx(10 + 1_000 + 1_000_000)
    steady = CLM5().steady_state(defaults, forcing)
    reached = soc_stock(trajectory.pools[:, -1], 1.2) / soc_stock(steady, 1.2)
    torch.testing.assert_close(reached, torch.ones(2, dtype=torch.float64), rtol=1e-3, atol=0.0)
    assert float(soc_stock(trajectory.pools[:, 0]).abs().max()) == 0.0  # starts from bare soil
    with pytest.raises(ValueError, match="step_years"):
        spin_up(defaults, forcing, schedule=[(10, 20)])
