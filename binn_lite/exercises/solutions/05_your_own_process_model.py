# Hints and solutions of the exercises of tutorial 05_your_own_process_model.ipynb.
# Read by binn_lite.exercises.hint("NN.k") and show_solution("NN.k"). Each "# %% exercise-<k>"
# section is the full replacement of the notebook cell tagged exercise-<k> (it uses the objects
# defined earlier in the notebook); each "# %% hint-<k>" section is a hint, as comment lines.

# %% hint-1
# ParameterTable([Parameter(name, low, high, unit, meaning, default), ...]) in the order tau, efolding,
# input_depth. Convert the ranges to the model's units: 10 cm = 0.1 m, 5 cm = 0.05 m; the default is
# (low + high) / 2.

# %% exercise-1
# Exercise 1: replace the ... with your answer
answer_1 = ParameterTable([
    Parameter("tau", 5.0, 500.0, "yr", "turnover time at 25 C", 252.5),
    Parameter("efolding", 0.1, 1.0, "m", "depth e-folding of decomposition", 0.55),  # 10 cm = 0.1 m
    Parameter("input_depth", 0.05, 1.0, "m", "e-folding depth of the litter input", 0.525),  # 5 cm = 0.05 m
])
check.check_one_pool_table(answer_1)

# %% hint-2
# Copy TwoPoolSoilCarbon (print(inspect.getsource(binn_lite.two_pool))), give it your table and replace
# the two pools by one: SOC_j = tau I_j / xi_j, i.e. p["tau"][:, None] * exp(log_layer_input - log_xi).

# %% exercise-2
# Exercise 2: replace the ... with your answer
class OnePoolSoilCarbon(ProcessModel):
    """One pool in every layer: SOC_j = I_j tau / xi_j; forcing: a binn_lite.clm5.Forcing."""

    parameter_table = answer_1

    def forward(self, params: torch.Tensor, forcing) -> torch.Tensor:
        """Steady-state SOC = I_j tau / xi_j at the 20 CLM5 nodes [batch, 20] in gC m-3."""
        p = self.parameter_table.as_dict(params)  # name -> [batch], physical units
        forcing = forcing.to(params.device, params.dtype)
        z, dz = ZSOI.to(params), DZ.to(params)  # node depth, layer thickness [20] (m)

        # litter input I_j, spread over the layers [batch, 20] (log of gC m-3 yr-1)
        annual_input = forcing.litter_input.sum(dim=(1, 2))  # [batch] gC m-2 yr-1
        log_weight = -z / p["input_depth"][:, None] + torch.log(dz)  # f_j ~ exp(-z_j / input_depth) dz_j
        log_share = log_weight - torch.logsumexp(log_weight, dim=1, keepdim=True)  # f_j sums to 1
        log_layer_input = torch.log(annual_input)[:, None] + log_share - torch.log(dz)

        # rate modifier xi_j [batch, 20] (log of -): 12-month mean temperature response times exp(-z / efolding)
        temperature_response = (2.0 ** ((forcing.soil_temperature - 298.15) / 10)).mean(dim=1)
        log_xi = torch.log(temperature_response) - z / p["efolding"][:, None]

        # the only change from the template: one pool, steady state of dC/dt = I - C xi / tau
        return p["tau"][:, None] * torch.exp(log_layer_input - log_xi)

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """SOC at observed depths [batch, n_obs] (m), linear between the nodes, NaN kept."""
        return interpolate(prediction, ZSOI, coords)


answer_2 = OnePoolSoilCarbon
check.check_one_pool_model(answer_2, two_pool_data.forcing[:4])

# %% hint-3
# BINN(MLPHead(len(base.feature_names), 2, hidden=(32, 32)), OnePoolSoilCarbon(), learn=["tau", "efolding"],
# fixed={"input_depth": ...}) with the value from two_pool_data.truth.params["input_depth"]; train it with
# fit(...) on train_idx like the two-pool BINN of section 3.

# %% exercise-3
# Exercise 3: replace the ... with your answer
# input_depth and efolding trade off: the profile's shape exp(-z/d) exp(z/e) fixes only 1/e - 1/d.
input_depth = float(two_pool_data.truth.params["input_depth"].iloc[0])  # 0.525 m at every site
one_pool_binn = BINN(MLPHead(len(base.feature_names), 2, hidden=(32, 32)), OnePoolSoilCarbon(),
                     learn=["tau", "efolding"], fixed={"input_depth": input_depth})
fit(one_pool_binn, two_pool_data, train_idx, epochs=40, batch_size=25, lr=1e-2, loss="log", patience=40, seed=0)
answer_3 = one_pool_binn
check.check_one_pool_recovery(answer_3, test_data)
