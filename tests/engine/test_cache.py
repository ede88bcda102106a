"""Prediction cache: no repeated model calls, identical outcomes, bounded size."""

from __future__ import annotations

import hashlib
import math
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import wince
from wince.datasets.loading import as_dataset
from wince.engine.cache import KEY_SCHEME, PredictionCache, sample_keys
from wince.engine.probe import probe_for_run
from wince.engine.runner import prepare
from wince.models import SklearnAdapter
from wince.models.base import Predictions
from wince.plan import as_plan

PLAN: dict[str, Any] = {
    "name": "cache-test",
    "perturbations": [
        {"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]},
        # deterministic: its trials repeat the same inputs over the seeds
        {"name": "tabular.quantisation", "severities": [0.5, 1.0]},
    ],
    "combinations": "pairwise",
    "repeats": 3,
    "seed": 5,
    "batch_size": 32,
}


class CountingModel(SklearnAdapter):
    """A scikit-learn model that counts its predict calls and the samples they carry."""

    def __init__(self, estimator: Any, *, seconds_per_sample: float = 0.0) -> None:
        super().__init__(estimator)
        self.calls = 0
        self.samples = 0
        self.seconds_per_sample = seconds_per_sample

    def predict(self, x: Any) -> Predictions:
        self.calls += 1
        self.samples += len(x)
        time.sleep(self.seconds_per_sample * len(x))  # a slow model, as a deep network is
        return super().predict(x)


def fitted(seed: int = 0) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(100, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression().fit(x, y), x, y


def trials_per_batch() -> int:
    """Trials of PLAN per batch (each a model call without a cache)."""
    _, spec = prepare(as_plan(PLAN), CountingModel(fitted()[0]), as_dataset(fitted()[1]))
    return len(spec.trials)


def run(model: Any, data: Any, store: Path, **options: Any) -> wince.Run:
    return wince.run(model, data, PLAN, store=str(store), **options)


def test_second_identical_run_makes_no_model_calls_and_the_same_outcomes(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    reference = CountingModel(estimator)
    uncached = run(reference, (x, y), tmp_path / "plain", cache=False)
    first_model = CountingModel(estimator)
    first = run(first_model, (x, y), tmp_path / "a", cache=tmp_path / "cache")
    second_model = CountingModel(estimator)  # a fresh adapter: nothing shared in memory
    second = run(second_model, (x, y), tmp_path / "b", cache=tmp_path / "cache")
    assert first_model.calls > 0
    assert second_model.calls == 0
    assert second_model.samples == 0
    pd.testing.assert_frame_equal(uncached.outcomes(), first.outcomes())
    pd.testing.assert_frame_equal(uncached.outcomes(), second.outcomes())


def test_default_cache_lives_next_to_the_store(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    run(CountingModel(estimator), (x, y), tmp_path)
    assert list((tmp_path / "cache").glob("*/*.arrow"))
    renamed = CountingModel(estimator)
    # another plan name is another run in the same store; its predictions are all known
    wince.run(renamed, (x, y), {**PLAN, "name": "renamed"}, store=str(tmp_path))
    assert renamed.calls == 0


def test_repeated_identical_inputs_are_predicted_once_within_a_run(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    # every sample twice (other ids, other batches): the same inputs under a deterministic
    # perturbation, and the same clean inputs
    twice, labels = np.concatenate([x[:50], x[:50]]), np.concatenate([y[:50], y[:50]])
    drift = {"name": "tabular.sensor_drift", "severities": [0.5, 1.0]}  # deterministic
    plan = {**PLAN, "perturbations": [drift], "combinations": "none"}
    uncached = CountingModel(estimator)
    wince.run(uncached, (twice, labels), plan, store=str(tmp_path / "a"), cache=False)
    slow = CountingModel(estimator, seconds_per_sample=100e-6)
    run = wince.run(slow, (twice, labels), plan, store=str(tmp_path / "b"), cache=tmp_path / "c")
    fast = CountingModel(estimator)
    never = PredictionCache(tmp_path / "e", dedup_above_s=math.inf)  # whatever the load
    wince.run(fast, (twice, labels), plan, store=str(tmp_path / "d"), cache=never)
    # baseline, 3 identity trials (the noise floor: always the model), 2 drift levels
    assert uncached.samples == 100 * (1 + 3 + 2)
    # a slow model: repeated inputs, clean or perturbed, are predicted once
    assert slow.samples == 50 * 1 + 100 * 3 + 50 * 2
    assert run.record["lineage"]["prediction_cache"]["memory_hits"] == 50 * 3
    # a fast model: perturbed inputs are not looked up one by one (it would cost more than it
    # saves); clean ones are
    assert fast.samples == 50 * 1 + 100 * 3 + 100 * 2


def test_cache_off_calls_the_model_for_every_trial(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    counted = CountingModel(estimator)
    for store in ("a", "b"):
        run(counted, (x, y), tmp_path / store, cache=False)
    assert trials_per_batch() > 10
    assert counted.calls == 2 * 4 * trials_per_batch()  # 2 runs of 4 batches
    assert not (tmp_path / "a" / "cache").exists()


def test_a_changed_model_misses(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    run(CountingModel(estimator), (x, y), tmp_path / "a", cache=tmp_path / "c")
    changed, _, _ = fitted(seed=1)
    other = CountingModel(changed)
    assert other.fingerprint() != CountingModel(estimator).fingerprint()
    plain = run(CountingModel(changed), (x, y), tmp_path / "plain", cache=False)
    again = run(other, (x, y), tmp_path / "b", cache=tmp_path / "c")
    # nothing the first model left in the shared cache served the changed one
    stats = again.record["lineage"]["prediction_cache"]
    assert stats["disk_hits"] == stats["outcome_hits"] == 0
    assert other.samples >= len(x) * (trials_per_batch() - 3)  # all but identity dedup
    pd.testing.assert_frame_equal(plain.outcomes(), again.outcomes())


def test_predictions_are_returned_bit_for_bit_whatever_the_batching() -> None:
    estimator, x, _ = fitted()
    model = CountingModel(estimator)
    direct = model.predict(x)
    cache = PredictionCache()
    cache.predict(model, x[:37])
    mixed = cache.predict(model, x[::-1])  # 37 known, 63 new, in another order
    again = cache.predict(model, x)
    assert model.calls == 3  # direct, first 37, the other 63
    for got, order in ((mixed, slice(None, None, -1)), (again, slice(None))):
        assert got.scores is not None
        assert direct.scores is not None
        assert got.scores.dtype == direct.scores.dtype
        np.testing.assert_array_equal(got.scores, direct.scores[order])
        np.testing.assert_array_equal(got.labels, np.asarray(direct.labels)[order])


def test_disk_tier_serves_a_new_cache_object_exactly(tmp_path: Path) -> None:
    estimator, x, _ = fitted()
    model = CountingModel(estimator)
    first = PredictionCache(tmp_path)
    expected = first.predict(model, x)
    first.flush()
    fresh = pickle.loads(pickle.dumps(first))  # as sent to a worker process
    assert fresh.memory_used == 0
    got = fresh.predict(model, x[10:50])
    assert model.calls == 1
    assert fresh.stats.disk_hits == 40
    np.testing.assert_array_equal(got.scores, np.asarray(expected.scores)[10:50])
    np.testing.assert_array_equal(got.labels, np.asarray(expected.labels)[10:50])


def test_keys_are_the_blake2b_digest_the_docstring_specifies() -> None:
    """Keys follow a published hash (RFC 7693), not a package's: stable across releases."""
    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    prefix = hashlib.blake2b(b"model||u1|(4,)\0", digest_size=16)
    expected = []
    for row in x:
        state = prefix.copy()
        state.update(row.tobytes())
        digest = state.digest()
        expected.append(
            (int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little"))
        )
    assert sample_keys(x, "model") == expected
    text = hashlib.blake2b(b"model|text\0caf\xc3\xa9", digest_size=16).digest()
    assert sample_keys(["café"], "model") == [
        (int.from_bytes(text[:8], "little"), int.from_bytes(text[8:], "little"))
    ]


def test_disk_files_of_another_key_scheme_are_never_read(tmp_path: Path) -> None:
    estimator, x, _ = fitted()
    model = CountingModel(estimator)
    cache = PredictionCache(tmp_path)
    cache.predict(model, x)
    cache.flush()
    (folder,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert folder.name.startswith(f"{KEY_SCHEME}-")
    folder.rename(tmp_path / folder.name.removeprefix(f"{KEY_SCHEME}-"))  # an older scheme
    PredictionCache(tmp_path).predict(model, x)
    assert model.calls == 2


def test_text_inputs_are_cached_by_their_strings() -> None:
    calls: list[list[str]] = []

    def model(batch: list[str]) -> np.ndarray:
        calls.append(list(batch))
        return np.array([[0.0, 1.0] if "good" in t else [1.0, 0.0] for t in batch])

    adapter = wince.models.CallableAdapter(model, fingerprint="text-model")
    cache = PredictionCache()
    first = cache.predict(adapter, ["good film", "bad film", "good film"])
    second = cache.predict(adapter, ["bad film", "good film", "fine film"])
    assert calls == [["good film", "bad film"], ["fine film"]]
    assert np.asarray(first.labels).tolist() == [1, 0, 1]
    assert np.asarray(second.labels).tolist() == [0, 1, 0]


def test_memory_and_disk_tiers_keep_their_bounds(tmp_path: Path) -> None:
    estimator, _, _ = fitted()
    model = CountingModel(estimator)
    rng = np.random.default_rng(1)
    cache = PredictionCache(tmp_path, memory_bytes=40_000, disk_bytes=10_000)
    batches = [rng.normal(size=(50, 4)) for _ in range(12)]
    for batch in batches:
        cache.predict(model, batch)
        cache.flush()
        assert cache.memory_used <= 40_000
        assert sum(p.stat().st_size for p in tmp_path.glob("*/*.arrow")) <= 10_000
    # the newest batch is still in memory, the oldest went from both tiers
    calls = model.calls
    cache.predict(model, batches[-1])
    assert model.calls == calls
    fresh = PredictionCache(tmp_path, memory_bytes=40_000, disk_bytes=10_000)
    fresh.predict(model, batches[-2])  # recent: still on disk
    assert model.calls == calls
    fresh.predict(model, batches[0])  # evicted from both tiers
    assert model.calls == calls + 1


def test_probe_of_a_run_reuses_the_runs_predictions(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    model = CountingModel(estimator)
    stored = run(model, (x, y), tmp_path)
    before = model.calls
    probe = probe_for_run(stored.store, stored.id, model=model, data=(x, y))
    baseline = probe.predict(np.arange(len(x)), ())
    assert model.calls == before  # the run's baseline, from the cache
    np.testing.assert_array_equal(baseline.labels, estimator.predict(x))


def test_identity_trials_call_the_model_so_the_noise_floor_stays_measured(
    tmp_path: Path,
) -> None:
    flips = iter(range(10**6))

    def jittery(batch: np.ndarray) -> np.ndarray:
        # a nondeterministic model: its label changes from call to call
        return np.full(len(batch), next(flips) % 2)

    model = wince.models.CallableAdapter(jittery, fingerprint="jittery")
    plan = {**PLAN, "perturbations": [PLAN["perturbations"][0]], "combinations": "none"}
    x = np.random.default_rng(0).normal(size=(20, 4))
    outcomes = wince.run(model, x, plan, store=str(tmp_path)).outcomes()
    identity = outcomes[outcomes["scenario"] == "identity"]
    assert identity["flipped"].any()


def test_a_run_keeps_the_memory_tier_within_its_bound(tmp_path: Path) -> None:
    estimator, x, y = fitted()
    bounded = PredictionCache(tmp_path / "c", memory_bytes=20_000)
    run(CountingModel(estimator), (x, y), tmp_path / "s", cache=bounded)
    assert bounded.stats.predicted > 0
    assert 0 < bounded.memory_used <= 20_000 + max(b.nbytes for b in bounded._blocks.values())
    assert len(bounded._blocks) < 4 * trials_per_batch()  # 4 batches' trials: some evicted
