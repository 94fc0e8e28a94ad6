# Hints and solutions of the exercises of tutorial 01_matrix_model.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# decomposition_rates(params[[1]], forcing[[1]]) gives the effective rates [site, layer, pool] in day-1.
# Pick layer 5 and pool POOLS.index("som3"); a turnover time is one over a rate, and a year has 365 days.

# %% exercise-1
# Exercise 1: replace the ... with your answer
rates_cold = decomposition_rates(params[[1]], forcing[[1]])  # [1 site, 20 layers, 7 pools], day-1
rate_som3 = rates_cold[0, 5, POOLS.index("som3")].item()  # day-1, layer 5 = node at 0.40 m
answer_1 = 1 / (365 * rate_som3)  # years
tau_s3 = params[1, CLM5_PARAMETERS.index("tau_s3")].item()
print(f"SOM 3 at 0.40 m turns over in {answer_1:,.0f} years (base tau_s3 = {tau_s3:.0f} years)")
check.check_som3_turnover(answer_1, params[[1]], forcing[[1]], layer=5)

# %% hint-2
# input_profile(p, forcing[[0]]) gives the fraction of the input entering each layer. Its cumulative sum is
# the fraction above each layer bottom (ZISOI, m); find where it crosses 0.5 (np.interp), or solve
# (1 - beta^(100 z)) / (1 - beta^860) = 0.5 for z.

# %% exercise-2
# Exercise 2: replace the ... with your answer
p = params[[0]].clone()
p[:, CLM5_PARAMETERS.index("beta")] = 0.95
fraction = input_profile(p, forcing[[0]])[0]  # [20] fraction of the input per layer, sums to 1
cumulative = torch.cat([torch.zeros(1, dtype=fraction.dtype), fraction.cumsum(dim=0)])  # above each bottom
bottoms = torch.cat([torch.zeros(1, dtype=ZISOI.dtype), ZISOI])  # 0 m (surface) and the 20 layer bottoms
answer_2 = float(np.interp(0.5, cumulative.numpy(), bottoms.numpy()))  # m
# exact: (1 - 0.95**(100 z)) / (1 - 0.95**860) = 0.5  ->  z = log(1 - (1 - 0.95**860) / 2) / (100 log 0.95)
print(f"half of the input enters above {answer_2:.3f} m")
check.check_half_input_depth(answer_2, beta=0.95)

# %% hint-3
# The input: sum forcing[[0]].litter_input over its months and input pools (gC m-2 yr-1).
# The respiration: heterotrophic_respiration(...) is gC m-3 day-1 per layer; multiply by DZ (m), sum the
# layers and multiply by 365.

# %% exercise-3
# Exercise 3: replace the ... with your answer
pools_forest = model.steady_state(params[[0]], forcing[[0]])  # [1, 7, 20], gC m-3
respiration = heterotrophic_respiration(params[[0]], forcing[[0]], pools_forest)  # [1, 20], gC m-3 day-1
total_input = forcing[[0]].litter_input.sum().item()  # 12 monthly amounts: gC m-2 yr-1
total_respiration = ((respiration[0] * DZ).sum() * 365).item()  # gC m-2 yr-1
answer_3 = (total_input, total_respiration)
print(f"input {total_input:,.1f}, respiration {total_respiration:,.1f} gC m-2 yr-1")
check.check_input_equals_respiration(answer_3, params[[0]], forcing[[0]])

# %% hint-4
# Convert params[[0]] to unit values (CLM5_PARAMETERS.to_unit), raise one column by 0.1 (at most 1), convert
# back (to_physical), run model(...) and read SOC at 1 m with model.observe(soc, torch.tensor([[1.0]])).
# Do this for each name in MOST_INFLUENTIAL; the change in % is 100 (after / before - 1).

# %% exercise-4
# Exercise 4: replace the ... with your answer
one_metre = torch.tensor([[1.0]])
unit = CLM5_PARAMETERS.to_unit(params[[0]])
soc_before = model.observe(model(params[[0]], forcing[[0]]), one_metre).item()
change = {}
for name in MOST_INFLUENTIAL:
    raised = unit.clone()
    column = CLM5_PARAMETERS.index(name)
    raised[:, column] = (raised[:, column] + 0.1).clamp(max=1.0)
    soc_after = model.observe(model(CLM5_PARAMETERS.to_physical(raised), forcing[[0]]), one_metre).item()
    change[name] = soc_after / soc_before - 1
print({name: f"{100 * c:+.1f} %" for name, c in change.items()})
best = max(change, key=change.get)
answer_4 = (best, 100 * change[best])  # (name, change of SOC at 1 m in %)
check.check_soc_at_1m(answer_4, params[[0]], forcing[[0]])
