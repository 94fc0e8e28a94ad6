# Hints and solutions of the exercises of tutorial 03_parameter_recovery.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# recovery is a DataFrame: one row per parameter, one column per measure. The R² is the column "r2"
# (not "r", the Pearson correlation).

# %% exercise-1
# Exercise 1: replace the ... with your answer
answer_1 = recovery.loc["fs1s3", "r2"]  # row = parameter, column "r2" (not "r", the Pearson correlation)
check.check_recovery_r2(answer_1, recovery, "fs1s3")

# %% hint-2
# SS_res = sum((recovered - true)^2), SS_tot = sum((true - mean(true))^2) over the held-out sites;
# R² = 1 - SS_res / SS_tot. Match the sites by id (.loc[recovered.index]).

# %% exercise-2
# Exercise 2: replace the ... with your answer
recovered = params_test["w_scaling"]
true = test.truth.params.loc[recovered.index, "w_scaling"]  # same sites, same order
ss_res = ((recovered - true) ** 2).sum()  # squared distances from the 1:1 line
ss_tot = ((true - true.mean()) ** 2).sum()  # spread of the truth around its mean
answer_2 = 1 - ss_res / ss_tot
print(f"R² = {answer_2:.4f}; r² = {recovery.loc['w_scaling', 'r'] ** 2:.4f} (r² ignores bias and scale errors, R² does not)")
check.check_r2_by_hand(answer_2, params_test, test.truth.params, "w_scaling")

# %% hint-3
# np.linalg.svd(J_site) returns U, S, Vh with the singular values S in decreasing order; the rows of Vh
# are the directions, row i belonging to S[i].

# %% exercise-3
# Exercise 3: replace the ... with your answer
U_site, S_site, Vh_site = np.linalg.svd(J_site)  # singular values in decreasing order
answer_3 = Vh_site[-1]  # the row of Vh that belongs to the smallest singular value
print("singular values:", S_site.round(4), " weakest direction:", {n: round(float(x), 2) for n, x in zip(names, answer_3)})
check.check_weak_direction(answer_3, J_site, names)

# %% hint-4
# Divide mcmc.posterior_sd() (sites x parameters) by each parameter's prior sd, (high - low) / sqrt(12)
# (mcmc.table[name].high, .low), average over the sites (.mean()), and answer with the name of the
# largest mean ratio and that ratio.

# %% exercise-4
# Exercise 4: replace the ... with your answer
posterior_sd = mcmc.posterior_sd()  # [sites, parameters], physical units
prior = pd.Series({name: (mcmc.table[name].high - mcmc.table[name].low) / np.sqrt(12) for name in mcmc.table.names})
ratio = (posterior_sd / prior).mean()  # 1 would mean: the profiles taught nothing
print(ratio.round(2).to_dict())
answer_4 = (ratio.idxmax(), ratio.max())  # (name, mean posterior sd / prior sd)
check.check_least_constrained(answer_4, mcmc.posterior_sd(), mcmc.table)
