"""What `wince analyze` prints: the results asked for, values beyond the realistic range marked."""

from __future__ import annotations

import pandas as pd

from wince.analysis.listings import (
    _interval,
    fragile_listing,
    scenario_beyond_realistic,
    tolerance_listing,
)


def step(name, value):
    return {"name": name, "value": value}


def test_a_scenario_is_beyond_realistic_when_any_step_is():
    assert scenario_beyond_realistic([step("image.jpeg", 3.0)])  # realistic: 20 to 90
    assert not scenario_beyond_realistic([step("image.jpeg", 50.0)])
    assert scenario_beyond_realistic([step("image.jpeg", 50.0), step("image.rotation", 30.0)])
    assert not scenario_beyond_realistic([])


def test_fragile_listing_marks_beyond_realistic_scenarios_and_keeps_all_records():
    fragile = pd.DataFrame(
        {
            "scenario": ["jpeg3", "jpeg50", "jpeg40"],
            "metric": ["flip_rate"] * 3,
            "effect": [0.3, 0.1, 0.05],
            "tolerance": [0.02] * 3,
            "p_fragile": [1e-4, 1e-3, 1e-2],
        }
    )
    scenarios = pd.DataFrame(
        {
            "scenario": ["jpeg3", "jpeg50", "jpeg40"],
            "steps": [[step("image.jpeg", 3.0)], [step("image.jpeg", 50.0)], []],
        }
    )
    listing = fragile_listing(fragile, scenarios, shown=2)
    assert [row[-1] for row in listing.rows] == ["beyond", ""]
    assert [r["beyond_realistic"] for r in listing.records or []] == [True, False, False]


def test_fragile_listing_has_no_range_column_when_every_value_is_realistic():
    fragile = pd.DataFrame(
        {
            "scenario": ["jpeg50", "jpeg3"],
            "metric": ["flip_rate"] * 2,
            "effect": [0.3, 0.1],
            "tolerance": [0.02] * 2,
            "p_fragile": [1e-4, 1e-3],
        }
    )
    scenarios = pd.DataFrame(
        {
            "scenario": ["jpeg3", "jpeg50"],
            "steps": [[step("image.jpeg", 3.0)], [step("image.jpeg", 50.0)]],
        }
    )
    listing = fragile_listing(fragile, scenarios, shown=1)  # jpeg3, beyond the range, is not shown
    assert "range" not in listing.columns
    assert all(len(row) == len(listing.columns) for row in listing.rows)


def test_an_interval_end_the_search_did_not_reach_says_beyond_its_last_value():
    assert _interval([0.812, None], 1.5) == "0.812 to beyond 1.5"
    assert _interval([None, None], 1.5) == "beyond 1.5"
    assert _interval([0.25, 0.5], 1.5) == "0.25 to 0.5"


def test_tolerance_listing_names_each_tested_tolerance_with_its_source():
    settings = {
        "tolerance": {"flip_rate": 0.05, "accuracy": 0.01, "mae": 1.0},
        "tolerance_source": {"flip_rate": "plan", "accuracy": "default"},
        "alpha": 0.05,
        "correction": "holm",
    }
    listing = tolerance_listing(settings, tested={"flip_rate", "accuracy"})
    assert [list(row) for row in listing.rows] == [
        ["flip_rate", "0.05", "plan"],
        ["accuracy", "0.01", "default"],
    ]
    assert listing.title == "tolerances (alpha 0.05, holm correction)"
