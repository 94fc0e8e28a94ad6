# Hints and solutions of the exercises of tutorial 07_your_own_data.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# Follow the units: orgc / 100 is g C per g fine earth; bdod is g fine earth per cm3; a m3 holds 10^6 cm3;
# the fine earth fills 1 - cfvo / 100 of the volume (stones hold no carbon).

# %% exercise-1
# Exercise 1: replace the ... with your answer
carbon_per_gram = horizon["orgc"] / 100  # g C per g fine earth
grams_per_m3 = horizon["bdod"] * 1e6 * (1 - horizon["cfvo"] / 100)  # g fine earth per m3 of soil
answer_1 = carbon_per_gram * grams_per_m3  # = orgc x bdod x 10,000 x (1 - cfvo/100), g C m-3
print(f"{answer_1:,.0f} g C m-3")
check.check_horizon_soc(answer_1, horizon["orgc"], horizon["bdod"], horizon["cfvo"])

# %% hint-2
# For each profile of export.groupby("profile_id"): the horizons with a bulk density give the points
# (middle, bdod), middle = (upper_depth + lower_depth) / 2; np.interp(middle_of_the_missing_one, middles,
# bdods) fills it. Then convert as in exercise 1 and keep the largest.

# %% exercise-2
# Exercise 2: replace the ... with your answer
filled = []
for profile_id, profile in export.groupby("profile_id"):
    if profile["bdod"].notna().all():
        continue
    middle = (profile["upper_depth"] + profile["lower_depth"]) / 2  # cm
    known = profile["bdod"].notna()  # horizons are listed top down, so the middles increase
    for index in profile.index[~known]:
        bdod = np.interp(middle[index], middle[known], profile.loc[known, "bdod"])
        row = profile.loc[index]
        filled.append((profile_id, row["orgc"] * bdod * 10_000 * (1 - row["cfvo"] / 100)))
answer_2 = max(filled, key=lambda pair: pair[1])
print(f"{len(filled)} horizons filled; the richest: {answer_2[0]}, {answer_2[1]:,.0f} g C m-3")
check.check_filled_horizon(answer_2, profiles)

# %% hint-3
# The part of a horizon inside 0-0.3 m is min(bottom_m, 0.3) - min(top_m, 0.3) (zero for deeper horizons):
# .clip(upper=0.3) on both columns. Multiply by soc_gC_m3, sum per site (groupby("site_id")), divide by
# 1,000 for kg C m-2, then .idxmax() and .max().

# %% exercise-3
# Exercise 3: replace the ... with your answer
obs = data.observations
inside = obs["bottom_m"].clip(upper=0.3) - obs["top_m"].clip(upper=0.3)  # m of each horizon within 0-30 cm
stocks = (obs["soc_gC_m3"] * inside).groupby(obs["site_id"]).sum() / 1000  # kg C m-2
answer_3 = (stocks.idxmax(), stocks.max())
print(f"{answer_3[0]}: {answer_3[1]:.2f} kg C m-2 in the top 30 cm (median site {stocks.median():.2f})")
check.check_largest_stock(answer_3, data.observations, depth=0.3)
