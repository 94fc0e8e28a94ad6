"""Property-based tests (hypothesis) of the model-side entry points.

Random *valid* inputs never give NaN or an exception; random *invalid* ones give the package's own
:class:`~binn_lite.errors.BinnInputError`, never a raw torch, numpy or pandas error. (The file
readers have their own properties in test_properties_data.py.)
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS
from binn_lite.data import make_synthetic
from binn_lite.errors import BinnInputError
from binn_lite.forcing import FORCING_FIELDS, Forcing
from binn_lite.heads import MLPHead
from binn_lite.metrics import kge, nse, pearson_r, r2, rmse
from binn_lite.parameters import RANGE_TOLERANCE, Parameter
from binn_lite.process import interpolate
from binn_lite.q10 import Q10Respiration, make_q10_synthetic
from binn_lite.two_pool import TwoPoolSoilCarbon

SOILS = make_synthetic(60, seed=11)
DAYS = make_q10_synthetic(20, seed=2)
N_PARAMS = len(CLM5_PARAMETERS)
FAST = settings(max_examples=int(__import__("os").environ.get("BINN_HYPOTHESIS_EXAMPLES", 30)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: a unit value: the corners 0 and 1 often, anything in between otherwise
unit_value = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
#: a number that is not a valid unit value
not_unit = st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not -1e-4 <= v <= 1 + 1e-4),
                     st.just(float("nan")))


def unit_params(n_sites: int) -> st.SearchStrategy:
    return hnp.arrays(np.float64, (n_sites, N_PARAMS), elements=unit_value)


# -------------------------------------------------------------------------------------------------
# CLM5 anywhere inside the parameter ranges
# -------------------------------------------------------------------------------------------------
@FAST
@given(unit=unit_params(6), sites=st.lists(st.integers(0, len(SOILS) - 1), min_size=6, max_size=6))
def test_clm5_is_finite_positive_and_float32_accurate_anywhere_in_the_ranges(unit, sites):
    model, forcing, depths = CLM5(), SOILS.forcing[sites], SOILS.coords[sites]
    soc64 = model.observe(model(CLM5_PARAMETERS.to_physical(torch.as_tensor(unit)), forcing), depths)
    u32 = torch.as_tensor(unit, dtype=torch.float32).requires_grad_(True)
    soc32 = model.observe(model(CLM5_PARAMETERS.to_physical(u32), forcing.to(dtype=torch.float32)),
                          depths.float())
    observed = ~torch.isnan(depths)
    assert torch.isfinite(soc64[observed]).all() and (soc64[observed] > 0).all()
    assert torch.isnan(soc64[~observed]).all()
    relative = ((soc32.detach().double() - soc64) / soc64)[observed].abs()
    assert float(relative.max()) < 1e-3
    torch.log(soc32[observed]).sum().backward()
    assert torch.isfinite(u32.grad).all()


@FAST
@given(unit=unit_params(3), site=st.integers(0, 2), column=st.integers(0, N_PARAMS - 1), bad=not_unit)
def test_a_unit_value_outside_0_1_is_refused_naming_the_parameter(unit, site, column, bad):
    unit[site, column] = bad
    name = CLM5_PARAMETERS.names[column]
    with pytest.raises(BinnInputError, match=f"unit value of '{name}' must be finite and in \\[0, 1\\]; site {site}"):
        CLM5_PARAMETERS.to_physical(torch.as_tensor(unit))


@FAST
@given(model_index=st.integers(0, 2), site=st.integers(0, 2), data=st.data())
def test_every_model_refuses_physical_values_outside_their_ranges(model_index, site, data):
    model, forcing = [(CLM5(), SOILS.forcing[:3]), (TwoPoolSoilCarbon(), SOILS.forcing[:3]),
                      (Q10Respiration(), DAYS.forcing[:3])][model_index]
    table = model.parameter_table
    params = table.defaults_like(3)
    column = data.draw(st.integers(0, len(table) - 1))
    p = table[table.names[column]]
    width = p.high - p.low
    params[site, column] = data.draw(st.one_of(
        st.floats(p.high + 1e-3 * width, p.high + 10 * width), st.floats(p.low - 10 * width, p.low - 1e-3 * width),
        st.sampled_from([float("nan"), float("inf"), -float("inf")])))
    with pytest.raises(BinnInputError, match=f"value of '{p.name}' must be finite and in .*; site {site} has"):
        model(params, forcing)


def test_unit_values_given_as_physical_ones_are_recognised():
    with pytest.raises(BinnInputError, match="Every value lies in \\[0, 1\\]: are these unit values?"):
        CLM5()(torch.full((2, N_PARAMS), 0.5, dtype=torch.float64), SOILS.forcing[:2])


# -------------------------------------------------------------------------------------------------
# A BINN on random covariates; interpolation on random grids
# -------------------------------------------------------------------------------------------------
@FAST
@given(x=hnp.arrays(np.float32, (5, 10), elements=st.floats(-1e3, 1e3, width=32)))
def test_a_binn_maps_any_finite_covariates_into_the_ranges(x):
    binn = BINN(MLPHead(10, 4, hidden=(8,), seed=0), CLM5(), learn="most_influential")
    theta = binn.parameters_from(torch.as_tensor(x)).double()
    slack = RANGE_TOLERANCE * (CLM5_PARAMETERS.high - CLM5_PARAMETERS.low)  # float32 rounding
    assert ((theta >= CLM5_PARAMETERS.low - slack) & (theta <= CLM5_PARAMETERS.high + slack)).all()
    with torch.no_grad():
        assert torch.isfinite(binn.predict(torch.as_tensor(x), SOILS.forcing[:5], SOILS.coords[:5])
                              [~torch.isnan(SOILS.coords[:5])]).all()


@FAST
@given(grid=st.lists(st.floats(-100, 100), min_size=2, max_size=12, unique=True),
       values=st.data(), coords=st.lists(st.one_of(st.floats(-200, 200), st.just(float("nan"))), min_size=1,
                                         max_size=8),
       decreasing=st.booleans())
def test_interpolate_stays_within_the_values_and_keeps_nan(grid, values, coords, decreasing):
    grid = sorted(grid, reverse=decreasing)
    if np.min(np.abs(np.diff(grid))) < 1e-9:
        return
    v = values.draw(hnp.arrays(np.float64, (1, len(grid)), elements=st.floats(-1e6, 1e6)))
    out = interpolate(torch.as_tensor(v), torch.as_tensor(grid, dtype=torch.float64),
                      torch.as_tensor([coords], dtype=torch.float64))
    missing = np.isnan(coords)
    assert np.array_equal(np.isnan(out.numpy()[0]), missing)
    finite = out.numpy()[0][~missing]
    assert (finite >= v.min() - 1e-6 * (1 + abs(v.min()))).all() and (finite <= v.max() + 1e-6 * (1 + abs(v.max()))).all()


# -------------------------------------------------------------------------------------------------
# Forcing, parameters, metrics: invalid input is always our own error
# -------------------------------------------------------------------------------------------------
def valid_forcing_arrays(n: int = 3) -> dict[str, np.ndarray]:
    return {name: value[:n] for name, value in SOILS.forcing.to_numpy().items()}


@FAST
@given(field=st.sampled_from(list(FORCING_FIELDS)), data=st.data())
def test_a_damaged_forcing_field_gives_our_error_naming_the_field(field, data):
    arrays = valid_forcing_arrays()
    damage = data.draw(st.sampled_from(["nan", "inf", "negative", "huge", "shape", "text", "missing", "none"]))
    value = arrays[field].astype(np.float64)
    if damage == "nan":
        value.flat[data.draw(st.integers(0, value.size - 1))] = np.nan
    elif damage == "inf":
        value.flat[data.draw(st.integers(0, value.size - 1))] = np.inf
    elif damage == "negative":
        value.flat[data.draw(st.integers(0, value.size - 1))] = -5.0
    elif damage == "huge":
        value.flat[data.draw(st.integers(0, value.size - 1))] = 1e4
    elif damage == "shape":
        value = value[..., :-1] if value.ndim > 1 else value[:-1]
    elif damage == "text":
        value = value.astype(str)
    if damage == "missing":
        del arrays[field]
    else:
        arrays[field] = None if damage == "none" else value
    if damage in ("negative", "huge") and field in ("altmax", "altmax_lastyear", "litter_input") and damage == "huge":
        return  # a deep active layer or a large litter input is valid
    with pytest.raises(BinnInputError, match=field if damage != "missing" else f"missing {field}"):
        Forcing.from_numpy(**arrays)


@FAST
@given(low=st.floats(allow_nan=True), high=st.floats(allow_nan=True), default=st.floats(allow_nan=True))
def test_a_parameter_is_either_valid_or_refused_with_our_error(low, high, default):
    try:
        p = Parameter("x", low, high, "-", "a parameter", default)
    except BinnInputError as error:
        assert "'x'" in str(error)
        return
    assert np.isfinite([p.low, p.high, p.default]).all() and p.low < p.high and p.low <= p.default <= p.high


@FAST
@given(pairs=st.integers(0, 12).flatmap(lambda n: hnp.arrays(np.float64, (2, n), elements=st.one_of(
    st.floats(-1e6, 1e6), st.just(float("nan")), st.just(float("inf"))))))
def test_metrics_give_a_number_or_our_error(pairs):
    for metric in (nse, r2, kge, pearson_r, rmse):
        try:
            value = metric(pairs[0], pairs[1])
        except BinnInputError:
            continue
        assert np.isfinite(value) or metric in (kge, pearson_r, nse, r2), (metric.__name__, value)


#: physical values that sit on the rules' edges (0, 1, signed zeros, the smallest subnormal,
#: infinities, NaN) or anywhere
edge_value = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 5e-324, -5e-324, 1.0 + 1e-12, 1.0 - 1e-16, 0.5, 2.0, -1.0,
                                        float("inf"), -float("inf"), float("nan")]),
                       st.floats(0.0, 1.0), st.floats(allow_nan=True, allow_infinity=True))


@FAST
@given(values=hnp.arrays(np.float64, (3, N_PARAMS), elements=edge_value),
       columns=st.lists(st.integers(0, N_PARAMS - 1), max_size=3), dtype=st.sampled_from(["float64", "float32"]))
def test_the_one_pass_parameter_check_agrees_with_the_rule_by_rule_check(values, columns, dtype):
    """``_breaks_a_rule`` (one pass over all columns, used on every call) says a set of CLM5
    parameters breaks a rule exactly when :func:`validate_parameters`'s checks, column by column,
    find one (and then they raise). Up to three columns take the drawn values, the rest the middle
    of their ranges."""
    from binn_lite.clm5 import _breaks_a_rule, validate_parameters

    params = CLM5_PARAMETERS.to_physical(torch.full((3, N_PARAMS), 0.5, dtype=torch.float64))
    params[:, columns] = torch.tensor(values[:, columns])
    params = params.to(getattr(torch, dtype))
    try:
        with pytest.MonkeyPatch.context() as patch:  # the column-by-column checks alone
            patch.setattr("binn_lite.clm5._breaks_a_rule", lambda values: True)
            validate_parameters(params)
        broken = False
    except BinnInputError:
        broken = True
    named = CLM5_PARAMETERS.as_dict(params)
    assert _breaks_a_rule(params) == broken, {CLM5_PARAMETERS.names[c]: named[CLM5_PARAMETERS.names[c]].tolist()
                                              for c in set(columns)}
