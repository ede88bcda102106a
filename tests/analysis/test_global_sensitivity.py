"""Global sensitivity against analytic oracles: Ishigami, linear additive models, known slopes."""

from __future__ import annotations

import importlib
import json
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wince.analysis.global_sensitivity import (
    Factor,
    GlobalSensitivity,
    factors_from_plan,
    global_sensitivity,
    model_output_evaluator,
    morris,
    sample_subset,
    sobol,
)
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe
from wince.errors import ParameterError, PrecisionWarning
from wince.models import CallableAdapter
from wince.perturbations import base
from wince.perturbations.base import Magnitude, register, registry
from wince.perturbations.tabular import TabularPerturbation
from wince.plan import Plan, parse_plan

# ---------------------------------------------------------------------------------------------
# Ishigami function, a = 7, b = 0.1, x uniform on [-pi, pi]^3 (Ishigami & Homma 1990; indices
# from Sobol' & Levitan 1999): V1 = (1 + b pi^4 / 5)^2 / 2, V2 = a^2 / 8,
# V13 = b^2 pi^8 (1/18 - 1/50), V = V1 + V2 + V13; S3 = S12 = S23 = 0.
A, B = 7.0, 0.1
V1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * math.pi**8 * (1 / 18 - 1 / 50)
V = V1 + V2 + V13
ISHIGAMI_S1 = {"x1": V1 / V, "x2": V2 / V, "x3": 0.0}
ISHIGAMI_ST = {"x1": (V1 + V13) / V, "x2": V2 / V, "x3": V13 / V}
ISHIGAMI_S2 = {("x1", "x2"): 0.0, ("x1", "x3"): V13 / V, ("x2", "x3"): 0.0}


def ishigami(x):
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def inside(frame, column, expected, key="factor"):
    """The rows whose interval [column_low, column_high] misses the expected value."""
    rows = frame.set_index(key)
    return {
        k: (rows.loc[k, f"{column}_low"], v, rows.loc[k, f"{column}_high"])
        for k, v in expected.items()
        if not rows.loc[k, f"{column}_low"] <= v <= rows.loc[k, f"{column}_high"]
    }


ISHIGAMI_FACTORS = [Factor(f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)]


@pytest.mark.slow
def test_default_design_gets_every_ishigami_index_within_the_target(seed):
    assert ISHIGAMI_S1["x1"] == pytest.approx(0.3139, abs=1e-4)  # the literature's figures
    assert ISHIGAMI_ST["x3"] == pytest.approx(0.2437, abs=1e-4)
    evaluated = []

    def recorded(x):
        evaluated.append(x)
        return ishigami(x)

    # the default design (n_base "auto", target 0.05); a smaller bootstrap keeps it quick
    result = sobol(recorded, ISHIGAMI_FACTORS, seed=seed, n_boot=200)  # warnings are errors
    n_base = result.design["n_base"]
    assert result.half_width <= 0.05
    assert result.warning == ""
    table = result.indices.set_index("factor")
    assert table["S1"].to_dict() == pytest.approx(ISHIGAMI_S1, abs=0.05)
    assert table["ST"].to_dict() == pytest.approx(ISHIGAMI_ST, abs=0.05)
    pairs = result.second_order.set_index(["factor_a", "factor_b"])["S2"]
    assert pairs.to_dict() == pytest.approx(ISHIGAMI_S2, abs=0.05)
    # the doubled design is SALib's design of that n_base, each point evaluated once
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
    np.testing.assert_array_equal(
        np.concatenate(evaluated), sobol_sample.sample(problem, n_base, seed=seed)
    )


@pytest.mark.slow
def test_a_design_short_of_the_target_warns_with_the_n_base_that_reaches_it(seed):
    factors = ISHIGAMI_FACTORS
    with pytest.warns(PrecisionWarning, match="n_base asked for") as caught:
        result = sobol(ishigami, factors, n_base=1024, seed=seed)
    assert str(caught[0].message) == result.warning
    # half-widths shrink as 1/sqrt(n_base): the target needs 1024 (w / 0.05)^2, rounded up to
    # a power of 2, and that design reaches it
    needed = 2 ** math.ceil(math.log2(1024 * (result.half_width / 0.05) ** 2))
    assert f"±{result.half_width:.2f}, above the target ±0.05, at n_base 1024" in result.warning
    assert f"n_base {needed} should reach the target" in result.warning
    assert result.design_points == result.evaluations == 1024 * 8
    assert inside(result.indices, "S1", ISHIGAMI_S1) == {}
    assert inside(result.indices, "ST", ISHIGAMI_ST) == {}
    pairs = result.second_order.set_index(["factor_a", "factor_b"])
    missed = {
        pair: (pairs.loc[pair, "S2_low"], v, pairs.loc[pair, "S2_high"])
        for pair, v in ISHIGAMI_S2.items()
        if not pairs.loc[pair, "S2_low"] <= v <= pairs.loc[pair, "S2_high"]
    }
    assert missed == {}
    assert result.indices.sort_values("rank")["factor"].tolist() == ["x1", "x2", "x3"]
    assert result.output_variance == pytest.approx(V, rel=0.05)
    assert sobol(ishigami, factors, n_base=needed, seed=seed, n_boot=200).half_width <= 0.05


@pytest.mark.slow
def test_linear_additive_function_splits_variance_by_squared_coefficients(seed):
    # Y = 2 x1 + x2 + 0 x3 with equal uniform ranges: S_i = ST_i = a_i^2 / sum a_j^2; S2 = 0.
    factors = [Factor(name, 0.0, 1.0) for name in ("x1", "x2", "x3")]
    with pytest.warns(PrecisionWarning):  # n_base 512 is short of the default target
        result = sobol(lambda x: 2 * x[:, 0] + x[:, 1], factors, n_base=512, seed=seed)
    expected = {"x1": 0.8, "x2": 0.2, "x3": 0.0}
    assert inside(result.indices, "S1", expected) == {}
    assert inside(result.indices, "ST", expected) == {}
    zero = {("x1", "x2"): 0.0, ("x1", "x3"): 0.0, ("x2", "x3"): 0.0}
    pairs = result.second_order.set_index(["factor_a", "factor_b"])
    for pair in zero:
        assert pairs.loc[pair, "S2_low"] <= 0.0 <= pairs.loc[pair, "S2_high"]
        assert abs(pairs.loc[pair, "S2"]) < 0.05
    table = result.indices.set_index("factor")
    assert table["S1"].to_dict() == pytest.approx(expected, abs=0.05)
    assert table.loc["x3", "ST"] == pytest.approx(0.0, abs=1e-12)  # x3 never moves Y


def test_normal_factor_share_follows_its_truncated_normal_variance(seed):
    # Y = x1 + x2; x1 ~ U(0, 1) has variance 1/12; x2 ~ N(0.5, 0.2) truncated to [0, 1].
    var_normal = stats.truncnorm(-2.5, 2.5, loc=0.5, scale=0.2).var()
    var_uniform = 1 / 12
    factors = [
        Factor("x1", 0.0, 1.0),
        Factor("x2", 0.0, 1.0, distribution="normal", mean=0.5, sd=0.2),
    ]
    result = sobol(
        lambda x: x[:, 0] + x[:, 1],
        factors,
        n_base=512,
        second_order=False,
        seed=seed,
        target_half_width=0.2,
    )
    total = var_uniform + var_normal
    expected = {"x1": var_uniform / total, "x2": var_normal / total}
    assert inside(result.indices, "S1", expected) == {}
    assert inside(result.indices, "ST", expected) == {}
    assert result.second_order.empty
    assert result.design_points == 512 * 4
    assert result.output_variance == pytest.approx(total, rel=0.05)


def test_morris_effects_equal_slope_times_range_and_rank_the_irrelevant_factor_last(seed):
    # For Y = sum a_i x_i, every elementary effect of x_i is a_i times the width of its range.
    factors = [Factor("x1", 0.0, 2.0), Factor("x2", -1.0, 4.0), Factor("x3", 10.0, 20.0)]
    result = morris(lambda x: -3 * x[:, 0] + x[:, 1], factors, trajectories=10, seed=seed)
    table = result.indices.set_index("factor")
    assert table["mu_star"].to_dict() == pytest.approx({"x1": 6.0, "x2": 5.0, "x3": 0.0})
    assert table["mu"].to_dict() == pytest.approx({"x1": -6.0, "x2": 5.0, "x3": 0.0})
    assert table["sigma"].to_numpy() == pytest.approx(np.zeros(3), abs=1e-9)  # no interaction
    assert table.loc["x3", "rank"] == 3
    assert table.loc["x3", "mu_star_high"] == pytest.approx(0.0)
    assert result.design_points == 10 * 4
    assert result.second_order.empty


def test_constant_output_gives_zero_indices_without_warnings():
    factors = [Factor("x1", 0.0, 1.0), Factor("x2", 0.0, 1.0)]
    result = sobol(lambda x: np.full(len(x), 3.0), factors, n_base=16)
    assert result.output_variance == 0.0
    numbers = result.indices.drop(columns=["factor", "rank"]).to_numpy()
    assert np.all(numbers == 0.0)


# ---------------------------------------------------------------------------------------------
# Through the engine: a test-only perturbation registered for the duration of a test only, so
# the registry-wide contract suite never sees it.


class Offset(TabularPerturbation):
    """Test-only: shifts column 1 by a number of its standard deviations."""

    name = "tabular.test_gs_offset"
    version = 1
    stochastic = False
    magnitude = Magnitude("offset_sd", unit="sd", off=0.0, mild=0.1, severe=1.0, limits=(-5, 5))

    def apply(self, x, value, rngs, context):
        out = x.copy()
        out[:, 1] += value * context.column_sd[1]
        return out


@pytest.fixture
def offset_registered(monkeypatch):
    registry()  # load the built-in perturbations into the real registry first
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    if Offset.name not in registry():
        register(Offset)
    return Offset.name


def tabular_data(n=48):
    x = np.random.default_rng(11).normal(size=(n, 2)) * np.array([2.0, 0.5])
    return ArrayDataset(x, np.zeros(n))


def column0(x):
    return x[:, 0]


@pytest.mark.slow
def test_engine_noise_takes_all_variance_when_the_model_ignores_the_offset_column(
    offset_registered, seed
):
    # The model reads column 0; the offset moves column 1 only, noise moves both. With the
    # noise draws fixed per sample (common random numbers), the mean |change| is exactly
    # noise_sd * sd_0 * mean|z_i|: linear in the noise factor, blind to the offset.
    data = tabular_data()
    probe = Probe(CallableAdapter(column0, task="regression"), data, seed=seed)
    plan = Plan.model_validate(
        {
            "name": "gs",
            "perturbations": [{"name": "tabular.gaussian_noise"}, {"name": offset_registered}],
            "seed": seed,
        }
    )
    with pytest.warns(PrecisionWarning):
        result = global_sensitivity(probe, plan, n_base=64, samples=32)
    table = result.indices.set_index("factor")
    assert table.loc["tabular.gaussian_noise", "S1_low"] <= 1.0
    assert table.loc["tabular.gaussian_noise", "S1_high"] >= 1.0
    assert table.loc["tabular.gaussian_noise", "ST"] == pytest.approx(1.0, abs=0.1)
    assert table.loc[offset_registered, "ST"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc[offset_registered, "ST_low"] <= 0.0 <= table.loc[offset_registered, "ST_high"]
    assert result.output == "mean_change"
    assert result.design_points == 64 * 6
    assert result.evaluations == probe.evaluations == 32 * (64 * 6 + 1)  # + the clean baseline
    assert len(result.sample_ids) == 32

    evaluator = model_output_evaluator(
        probe, result.factors, indices=sample_subset(len(data), 32, seed=seed)
    )
    points = np.array([[0.1, 0.1], [0.2, 0.9], [0.4, 0.5]])
    y = evaluator(points)
    assert y / points[:, 0] == pytest.approx(np.full(3, y[0] / 0.1), rel=1e-9)


def test_evaluator_flip_rate_is_the_share_of_samples_pushed_past_the_threshold(
    offset_registered,
):
    data = tabular_data(200)
    x1 = data.x[:, 1]
    probe = Probe(CallableAdapter(lambda x: (x[:, 1] > 0).astype(int)), data, seed=0)
    factors = [Factor.for_perturbation(offset_registered)]
    indices = np.arange(0, 200, 2)
    evaluator = model_output_evaluator(probe, factors, indices=indices)
    values = np.array([0.1, 0.35, 0.8, 1.0])
    sd = x1.std()
    expected = [np.mean((x1[indices] <= 0) & (x1[indices] + v * sd > 0)) for v in values]
    assert evaluator.output == "flip_rate"
    assert evaluator(values[:, None]) == pytest.approx(expected)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    # Mean change of a classifier: |change of the clean predicted class's probability|, and
    # with two classes p_0 = 1 - p_1 it is |sigmoid(3 (x1 + v sd)) - sigmoid(3 x1)| either way.
    soft = Probe(
        CallableAdapter(lambda x: np.stack([1 - sigmoid(3 * x[:, 1]), sigmoid(3 * x[:, 1])], 1)),
        data,
        seed=0,
    )
    change = model_output_evaluator(soft, factors, indices=indices, output="mean_change")
    x = x1[indices]
    expected = [np.mean(np.abs(sigmoid(3 * (x + v * sd)) - sigmoid(3 * x))) for v in values]
    assert change(values[:, None]) == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow
def test_global_sensitivity_is_deterministic_and_survives_a_json_round_trip(offset_registered):
    data = tabular_data()
    plan = Plan.model_validate(
        {
            "name": "gs",
            "perturbations": [{"name": "tabular.gaussian_noise"}, {"name": offset_registered}],
        }
    )

    def run(method):
        model = CallableAdapter(lambda x: x[:, 0] * x[:, 1], task="regression")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)  # n_base 16 is far from it
            return global_sensitivity(
                Probe(model, data, seed=0),
                plan,
                method=method,
                n_base=16,
                trajectories=4,
                samples=20,
            )

    for method in ("sobol", "morris"):
        first, second = run(method), run(method)
        assert first.to_payload() == second.to_payload()
        back = GlobalSensitivity.from_payload(json.loads(json.dumps(first.to_payload())))
        pd.testing.assert_frame_equal(back.indices, first.indices)
        pd.testing.assert_frame_equal(back.second_order, first.second_order)
        assert back.factors == first.factors
        assert back.to_payload() == first.to_payload()
    sobol_result = run("sobol")
    assert not sobol_result.second_order.empty
    assert sobol_result.warning.startswith("Sobol' indices less precise than asked")
    # a payload stored before the precision was recorded reads back without a warning
    old = {k: v for k, v in sobol_result.to_payload().items() if k not in ("half_width", "warning")}
    back = GlobalSensitivity.from_payload(old)
    assert back.half_width is None
    assert back.warning == ""
    pd.testing.assert_frame_equal(back.indices, sobol_result.indices)


def test_the_time_budget_stops_at_the_largest_completed_design(seed, monkeypatch):
    # a clock that only the model moves, 1 ms per design point: the budget's rule is checked
    # exactly, whatever the machine's load
    module = importlib.import_module("wince.analysis.global_sensitivity")  # not the function
    clock = [0.0]

    def slow(x):
        clock[0] += 1e-3 * len(x)
        return ishigami(x)

    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    budget = 1.5
    with pytest.warns(PrecisionWarning, match="time budget stopped") as caught:
        result = sobol(slow, ISHIGAMI_FACTORS, time_budget_s=budget, seed=seed, n_boot=100)
    # n_base 64 is 512 points (0.512 s); doubling to 128 adds as many (1.024 s in all); the
    # next doubling would end near 2.05 s, past the budget, so the design stops at 128
    assert result.design["n_base"] == 128
    assert result.design_points == 128 * 8
    assert clock[0] == pytest.approx(1.024)
    assert clock[0] <= budget
    assert result.half_width > 0.05
    needed = 2 ** math.ceil(math.log2(128 * (result.half_width / 0.05) ** 2))
    assert f"n_base {needed} should reach the target" in str(caught[0].message)


def test_plan_n_base_is_auto_by_default_or_a_power_of_2():
    raw = {"name": "p", "perturbations": [{"name": "tabular.gaussian_noise"}]}
    design = parse_plan(raw).analysis.global_sensitivity
    assert (design.n_base, design.target_half_width, design.time_budget_s) == ("auto", 0.05, 3600)
    raw["analysis"] = {"global_sensitivity": {"n_base": 100}}
    with pytest.raises(Exception, match=r"n_base.*power of 2.*got 100\. Try auto, or 128"):
        parse_plan(raw)


# ---------------------------------------------------------------------------------------------
# Factors and validation


def test_factors_default_to_the_realistic_range_and_keep_plan_order_and_params():
    plan = Plan.model_validate(
        {
            "name": "f",
            "perturbations": [{"name": "image.jpeg"}, {"name": "image.exposure"}],
        }
    )
    jpeg, exposure = factors_from_plan(plan)
    assert (jpeg.name, jpeg.low, jpeg.high) == ("image.jpeg", 20.0, 90.0)
    assert (exposure.low, exposure.high) == (-3.0, -0.3)
    assert jpeg.distribution == "uniform"
    assert jpeg.step(57.5).value == 58.0  # integer magnitudes round half up
    assert jpeg.step(57.49).value == 57.0
    assert exposure.step(-1.25).value == -1.25


def test_declared_normal_distribution_builds_a_truncated_normal_factor():
    factor = Factor.from_declaration(
        "tabular.gaussian_noise", {"kind": "normal", "mean": 0.2, "sd": 0.05}
    )
    assert (factor.low, factor.high, factor.mean, factor.sd) == (0.02, 0.5, 0.2, 0.05)
    assert factor.salib() == ("truncnorm", [0.02, 0.5, 0.2, 0.05])
    with pytest.raises(ParameterError, match="unknown distribution fields"):
        Factor.from_declaration("tabular.gaussian_noise", {"kind": "normal", "sigma": 1})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"low": -1.0}, r"noise_sd must be a number of column standard deviations in \[0, 10\]"),
        ({"distribution": "normal", "mean": 0.1}, "needs numbers mean and sd"),
        ({"distribution": "normal", "mean": 0.9, "sd": 0.1}, "mean in"),
        ({"sd": 0.1}, "belong to a normal distribution"),
        ({"distribution": "beta"}, "'uniform' or 'normal'"),
        ({"low": 0.3, "high": 0.2}, "low must be below high"),
    ],
)
def test_invalid_factors_are_refused_with_the_constraint(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Factor.for_perturbation("tabular.gaussian_noise", **kwargs)


def test_invalid_designs_are_refused():
    factors = [Factor("x1", 0.0, 1.0), Factor("x2", 0.0, 1.0)]
    with pytest.raises(ParameterError, match=r"power of 2 .*got 100\. Try 128"):
        sobol(lambda x: x[:, 0], factors, n_base=100)
    with pytest.raises(ParameterError, match="levels must be an even number"):
        morris(lambda x: x[:, 0], factors, levels=5)
    with pytest.raises(ParameterError, match="unique"):
        sobol(lambda x: x[:, 0], [factors[0], factors[0]], n_base=16)
    with pytest.raises(Exception, match="one number per design point"):
        sobol(lambda x: x, factors, n_base=16)
    data = tabular_data()
    probe = Probe(CallableAdapter(column0, task="regression"), data, seed=0)
    plan = Plan.model_validate({"name": "p", "perturbations": [{"name": "tabular.gaussian_noise"}]})
    with pytest.raises(ParameterError, match="no classes to flip"):
        global_sensitivity(probe, plan, output="flip_rate", n_base=16)
    spent = probe.evaluations
    with pytest.raises(ParameterError, match="method must be"):
        global_sensitivity(probe, plan, method="fast")  # type: ignore[arg-type]
    assert probe.evaluations == spent  # refused before any model call


def test_sample_subset_is_a_seeded_sorted_choice():
    chosen = sample_subset(100, 10, seed=3)
    assert len(set(chosen.tolist())) == 10
    assert chosen.tolist() == sorted(chosen.tolist())
    assert np.array_equal(chosen, sample_subset(100, 10, seed=3))
    assert not np.array_equal(chosen, sample_subset(100, 10, seed=4))
    assert np.array_equal(sample_subset(5, 10, seed=0), np.arange(5))
