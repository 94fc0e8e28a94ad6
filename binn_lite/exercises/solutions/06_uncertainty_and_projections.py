# Hints and solutions of the exercises of tutorial 06_uncertainty_and_projections.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# (observed >= lower) & (observed <= upper) is True where an observation lies inside its interval.
# Count only the finite observations deeper than 0.3 m: torch.isfinite(test.soc) marks the observations
# (the rest is NaN padding) and test.depth > 0.3 the deep ones.

# %% exercise-1
# Exercise 1: replace the ... with your answer
deep = test.depth > 0.3  # False for the NaN padding too
observed = test.soc[deep]
finite = torch.isfinite(observed)
inside = (observed >= lower[deep]) & (observed <= upper[deep])
answer_1 = inside[finite].double().mean().item()
print(f"{int(inside[finite].sum())} of {int(finite.sum())} deep held-out observations inside their 90 % interval")
check.check_coverage(answer_1, lower[deep], upper[deep], test.soc[deep])

# %% hint-2
# residual = torch.log(train.soc) - torch.log(predicted_train) on the entries where both are finite;
# sigma is the square root of the mean of the squared residuals.

# %% exercise-2
# Exercise 2: replace the ... with your answer
_, predicted_train = dropout_mlp.predict_dataset(train)
finite = torch.isfinite(train.soc) & torch.isfinite(predicted_train)
residual = torch.log(train.soc[finite]) - torch.log(predicted_train[finite].double())  # natural log
answer_2 = residual.pow(2).mean().sqrt().item()
check.check_noise_sd(answer_2, predicted_train, train.soc, dropout_samples=dropout_train)

# %% hint-3
# The top of layer j is ZISOI[j] - DZ[j]; the part of it above 0.5 m is min(DZ[j], max(0, 0.5 - top)).
# torch.clamp(0.5 - top, min=0).minimum(DZ) gives all 20 at once. The change is the stock in the last
# year (soc[-1]) minus the stock in the first (soc[0]).

# %% exercise-3
# Exercise 3: replace the ... with your answer
from binn_lite.clm5 import DZ, ZISOI

soc = truth_runs["+2 K"].soc[0]  # site 0: [101 years, 20 layers], gC m-3
top = ZISOI - DZ  # upper edge of every layer (m)
above = torch.clamp(0.5 - top, min=0.0).minimum(DZ)  # the part of each layer above 0.5 m
answer_3 = float(((soc[-1] - soc[0]) * above).sum())  # gC m-2
print(f"the layers count with {above[above > 0].numpy().round(2)} m (the 0.48-0.68 m layer with 0.02 m)")
check.check_stock_change(answer_3, truth_runs["+2 K"], site=0, depth=0.5)
