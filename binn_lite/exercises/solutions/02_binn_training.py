# Hints and solutions of the exercises of tutorial 02_binn_training.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# Keep only the pairs where both pred_test and test.soc are finite (np.isfinite), then
# 1 - sum((p - o)^2) / sum((o - mean(o))^2) with the mean over those observations.

# %% exercise-1
# Exercise 1: replace the ... with your answer
p, o = pred_test.double().numpy(), test.soc.numpy()  # [300, max_obs], gC m-3, NaN-padded
valid = np.isfinite(p) & np.isfinite(o)  # leave the padding out
p, o = p[valid], o[valid]
answer_1 = 1.0 - np.sum((p - o) ** 2) / np.sum((o - o.mean()) ** 2)
print(f"NSE by hand {answer_1:.4f}; binn_lite.metrics.nse {nse(pred_test, test.soc):.4f}")
check.check_nse_by_hand(answer_1, pred_test, test.soc)

# %% hint-2
# torch.log(pred_test) - torch.log(test.soc) is NaN where nothing was observed: torch.nanmean of its square
# over dim=1, then the square root, gives one log-RMSE per site; test.site_ids[argmax] is the id.

# %% exercise-2
# Exercise 2: replace the ... with your answer
log_error = torch.log(pred_test.double()) - torch.log(test.soc)  # NaN where nothing was observed
log_rmse = torch.sqrt(torch.nanmean(log_error ** 2, dim=1))  # [300] sites, relative error
answer_2 = test.site_ids[int(torch.argmax(log_rmse))]
check.check_worst_site(answer_2, pred_test, test.soc, test.site_ids)

worst = [test.site_ids.get_loc(answer_2)]
fig = plot_profiles(test.depth[worst], test.soc[worst], pred_test[worst], [answer_2],
                    model_depth=ZSOI, model_values=node_profiles(binn, test.subset(worst)))
fig.axes[0].set_xscale("linear")  # the profile spans less than a decade: a log axis would show no labels
plt.show()
# how unusual is the site? percentile of each covariate among all 1,500 sites
covariates = data.sites[list(data.feature_names)]
percentile = (covariates < covariates.loc[answer_2]).mean() * 100
print(f"{answer_2} ({test.sites.loc[answer_2, 'land_cover']}): covariate percentiles")
print(percentile.round(0).to_string())
# percentiles near 0 or 100 put the site at the edge of the data: there the network extrapolates
# (in the bundled data tau_s3 depends on ph and cec, efolding on veg_carbon and bulk_density)

# %% hint-3
# data.split(k=5, kind="spatial", seed=0)[0] is (training positions, test positions). train_binn returns
# (BINN, FitResult); predict the test sites with binn.predict_dataset(data.subset(spatial_test)) and
# compute nse(predicted, observed).

# %% exercise-3
# Exercise 3: replace each ... (positions of fold 0, the trained BINN and its FitResult, the NSE)
spatial_train, spatial_test = data.split(k=5, kind="spatial", seed=0)[0]
spatial_binn, spatial_result = train_binn(spatial_train)
spatial_holdout = data.subset(spatial_test)
_, spatial_pred = spatial_binn.predict_dataset(spatial_holdout)
answer_3 = nse(spatial_pred, spatial_holdout.soc)
print(f"held-out NSE: spatial split {answer_3:.3f} ({len(spatial_test)} sites), random split {test_nse:.3f}")
check.check_spatial_nse(answer_3, spatial_result, spatial_binn, data, spatial_test, random_nse=test_nse)
