# Hints and solutions of the exercises of tutorial 04_kan_interpretation.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# kan_importance has one row per covariate and one column per parameter. In the "tau_s3" column,
# .idxmax() gives the covariate and .max() its importance.

# %% exercise-1
# Exercise 1: replace the ... with your answer
column = kan_importance["tau_s3"]  # one value per covariate
answer_1 = (column.idxmax(), column.max())  # the row with the largest value, and that value
print(f"top driver of tau_s3: {answer_1[0]}, importance {answer_1[1]:.3f} (true drivers: {', '.join(drivers['tau_s3'])})")
check.check_top_driver(answer_1, kan_importance, "tau_s3")

# %% hint-2
# Take the rows of kan_curves with covariate "veg_carbon" and parameter "efolding"; max - min of "value"
# is the change of u. The hard sigmoid turns a change du into du / 6 of the range; multiply by
# high - low of CLM5_PARAMETERS["efolding"] (m).

# %% exercise-2
# Exercise 2: replace the ... with your answer
edge = kan_curves[(kan_curves["covariate"] == "veg_carbon") & (kan_curves["parameter"] == "efolding")]
du = edge["value"].max() - edge["value"].min()  # change of the pre-activation u
efolding = CLM5_PARAMETERS["efolding"]
answer_2 = du / 6 * (efolding.high - efolding.low)  # hard sigmoid: p = u/6 + 1/2 on [-3, 3]; m
print(f"du = {du:.3f} -> {du / 6:.3f} of the range -> {answer_2:.3f} m of efolding")
check.check_edge_effect(answer_2, kan_curves, "veg_carbon", "efolding", CLM5_PARAMETERS)

# %% hint-3
# For every parameter p: mlp_importance[p].nlargest(len(drivers[p])).index are its top covariates; count
# how many of them are in drivers[p], and add up over the four parameters.

# %% exercise-3
# Exercise 3: replace the ... with your answer
answer_3 = 0
for p, true_drivers in drivers.items():
    top = mlp_importance[p].nlargest(len(true_drivers)).index
    answer_3 += len(set(top) & set(true_drivers))
print(f"MLP + PD: {answer_3} hits")
check.check_retrieval_hits(answer_3, mlp_importance, drivers)

# %% hint-4
# ds.covariates.corr() is the correlation matrix. Keep the rows of the covariates that are not in
# drivers["fs1s3"] and the columns of the two drivers; the largest |r| in that block names the covariate,
# and r keeps its sign.

# %% exercise-4
# Exercise 4: replace the ... with your answer
corr = ds.covariates.corr()
others = [c for c in names if c not in drivers["fs1s3"]]
strength = corr.loc[others, drivers["fs1s3"]]  # non-drivers x drivers
name = strength.abs().max(axis=1).idxmax()
driver = strength.loc[name].abs().idxmax()
answer_4 = (name, strength.loc[name, driver])
print(f"{name} follows {driver}: r = {answer_4[1]:.2f}")
check.check_confounder(answer_4, ds.covariates, "fs1s3", drivers)
