# Solutions to the exercises of tutorials/04_kan_interpretation.ipynb.
# Each "# %% exercise-<k>" section is the full replacement of the notebook cell tagged exercise-<k>;
# it uses the objects defined earlier in the notebook (kan_importance, kan_curves, mlp_importance, ...).

# %% exercise-1
# Exercise 1: replace the ... with your answer
answer_1 = kan_importance["tau_s3"].idxmax()  # the row with the largest value in the tau_s3 column
print(f"top driver of tau_s3: {answer_1} (true drivers: {', '.join(drivers['tau_s3'])})")
check.check_top_driver(answer_1, kan_importance, "tau_s3")

# %% exercise-2
# Exercise 2: replace the ... with your answer
edge = kan_curves[(kan_curves["covariate"] == "veg_carbon") & (kan_curves["parameter"] == "efolding")]
du = edge["value"].max() - edge["value"].min()  # change of the pre-activation u
efolding = CLM5_PARAMETERS["efolding"]
answer_2 = du / 6 * (efolding.high - efolding.low)  # hard sigmoid: p = u/6 + 1/2 on [-3, 3]; m
print(f"du = {du:.3f} -> {du / 6:.3f} of the range -> {answer_2:.3f} m of efolding")
check.check_edge_effect(answer_2, kan_curves, "veg_carbon", "efolding", CLM5_PARAMETERS)

# %% exercise-3
# Exercise 3: replace the ... with your answer
answer_3 = 0
for p, true_drivers in drivers.items():
    top = mlp_importance[p].nlargest(len(true_drivers)).index
    answer_3 += len(set(top) & set(true_drivers))
print(f"MLP + PD: {answer_3} hits")
check.check_retrieval_hits(answer_3, mlp_importance, drivers)

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
