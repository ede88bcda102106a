"""Governance: gate a run against a policy, and compare two runs of the same plan.

`evaluate_gate(store, run, policy)` checks a stored run against the rules of a policy
(flip-rate and accuracy-drop ceilings, breaking-point floors, no regression against a baseline
run, a cap on fragile findings) and returns a `GateResult` with a table, JSON and JUnit XML.
`compare_runs(store, run_a, run_b)` tests two runs scenario by scenario, sample by sample
(McNemar and paired bootstrap, Holm-corrected) and returns a `Comparison`.
"""

from __future__ import annotations

from wince.errors import PolicyError
from wince.governance.compare import Comparison, compare_runs
from wince.governance.gate import GateResult, evaluate_gate
from wince.governance.policy import Policy, load_policy, parse_policy

__all__ = [
    "Comparison",
    "GateResult",
    "Policy",
    "PolicyError",
    "compare_runs",
    "evaluate_gate",
    "load_policy",
    "parse_policy",
]
