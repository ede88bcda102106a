"""Governance: gate a run against a policy, and compare two runs of the same plan.

`evaluate_gate(store, run, policy)` checks a stored run against the rules of a policy
(flip-rate and accuracy-drop ceilings, breaking-point floors, no regression against a baseline
run, a cap on fragile findings) and returns a `GateResult` with a table, JSON and JUnit XML.
`compare_runs(store, run_a, run_b)` tests two runs scenario by scenario, sample by sample
(McNemar and paired bootstrap, Holm-corrected) and returns a `Comparison`.
`write_lock` / `run_locked` pin and check perturbation versions and the data fingerprint,
`verify_run` re-executes stored trials bit for bit, `history` follows a plan's runs.
"""

from __future__ import annotations

from wince.errors import PolicyError
from wince.governance.compare import Comparison, compare_runs
from wince.governance.gate import GateResult, evaluate_gate
from wince.governance.history import history
from wince.governance.lock import check_lock, run_locked, write_lock
from wince.governance.policy import Policy, load_policy, parse_policy
from wince.governance.verify import VerifyResult, verify_run

__all__ = [
    "Comparison",
    "GateResult",
    "Policy",
    "PolicyError",
    "VerifyResult",
    "check_lock",
    "compare_runs",
    "evaluate_gate",
    "history",
    "load_policy",
    "parse_policy",
    "run_locked",
    "verify_run",
    "write_lock",
]
