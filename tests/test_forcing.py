"""Forcing validation: every bad input names the field, the problem and the site."""
import numpy as np
import pytest
import torch

from binn_lite.forcing import FORCING_FIELDS, Forcing
from clm5_factory import make_forcing


def arrays(n_sites=4):
    return make_forcing(n_sites).to_numpy()


def build(**changes):
    fields = arrays()
    fields.update(changes)
    return Forcing.from_numpy(**fields)


def with_value(name, site, value, index=(0, 0)):
    array = arrays()[name].copy()
    array[(site, *index)] = value
    return {name: array}


def test_valid_forcing_round_trips_through_numpy():
    forcing = make_forcing(4)
    again = Forcing.from_numpy(**forcing.to_numpy())
    for name in FORCING_FIELDS:
        assert torch.equal(getattr(again, name), getattr(forcing, name))
    assert len(again) == 4 and again.bedrock.dtype == torch.long


@pytest.mark.parametrize("name", [n for n in FORCING_FIELDS if n != "bedrock"])
def test_wrong_shape_names_the_field(name):
    bad = arrays()[name][:, :5]
    with pytest.raises(ValueError, match=rf"forcing field '{name}' must have shape"):
        build(**{name: bad})


def test_wrong_batch_of_bedrock_names_the_field():
    with pytest.raises(ValueError, match=r"forcing fields disagree on the number of sites \(first dimension\): "
                                         r"'litter_input' 4, .*'bedrock' 3"):
        build(bedrock=np.full(3, 20))


@pytest.mark.parametrize("name", ["soil_temperature", "water_scalar", "litter_input", "altmax"])
def test_non_finite_value_names_field_and_site(name):
    index = (0,) if name == "altmax" else (0, 0)
    with pytest.raises(ValueError, match=rf"forcing field '{name}': non-finite value \(NaN or inf\) at site 2"):
        build(**with_value(name, 2, np.nan, index))


def test_temperature_in_celsius_is_detected():
    celsius = arrays()["soil_temperature"] - 273.15
    with pytest.raises(ValueError, match=r"'soil_temperature' must be in kelvin .*site 0 .*degrees Celsius; add 273.15"):
        build(soil_temperature=celsius)


def test_temperature_out_of_kelvin_range_names_site():
    with pytest.raises(ValueError, match=r"'soil_temperature' must be in kelvin \(150-350 K\); site 3 has values from .* to 400.00"):
        build(**with_value("soil_temperature", 3, 400.0))


@pytest.mark.parametrize("name", ["water_scalar", "oxygen_scalar", "nitrogen_scalar"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_scalar_outside_unit_interval_names_field_and_site(name, value):
    with pytest.raises(ValueError, match=rf"forcing field '{name}': value outside \[0, 1\] at site 1 \(value {value:g}\)"):
        build(**with_value(name, 1, value))


def test_negative_input_names_field_and_site():
    with pytest.raises(ValueError, match=r"forcing field 'litter_input': negative litter input .* at site 2 \(value -3\)"):
        build(**with_value("litter_input", 2, -3.0))


@pytest.mark.parametrize("name", ["altmax", "altmax_lastyear"])
def test_negative_active_layer_depth_names_field_and_site(name):
    with pytest.raises(ValueError, match=rf"forcing field '{name}': negative active-layer depth \(m\) at site 1"):
        build(**with_value(name, 1, -0.5, (3,)))


@pytest.mark.parametrize("value", [0, 21])
def test_bedrock_outside_layer_range(value):
    bedrock = np.full(4, 20)
    bedrock[3] = value
    with pytest.raises(ValueError, match=rf"forcing field 'bedrock': number of layers above bedrock outside 1..20 at site 3 \(value {value}\)"):
        build(bedrock=bedrock)


def test_fractional_bedrock_is_rejected():
    with pytest.raises(ValueError, match=r"'bedrock' must be an integer number of soil layers; site 1 has 7.5"):
        build(bedrock=np.array([20.0, 7.5, 20.0, 20.0]))


def test_missing_and_unknown_fields_are_listed():
    fields = arrays()
    fields.pop("oxygen_scalar")
    fields["oxygen"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing oxygen_scalar; unknown oxygen"):
        Forcing.from_numpy(**fields)


def test_subsetting_and_casting_keep_fields_consistent():
    forcing = make_forcing(5)
    sub = forcing[[4, 1]]
    assert len(sub) == 2
    assert torch.equal(sub.water_scalar[0], forcing.water_scalar[4])
    single = forcing.to(dtype=torch.float32)
    assert single.soil_temperature.dtype == torch.float32 and single.bedrock.dtype == torch.long
    joined = Forcing.concat([forcing[:2], forcing[2:]])
    assert torch.equal(joined.litter_input, forcing.litter_input)
