"""ArrayDataset: ids, labels, fingerprints, take() and the tabular context."""

from __future__ import annotations

import numpy as np
import pytest

from wince.datasets import ArrayDataset
from wince.errors import DataError
from wince.perturbations.base import Modality


def tabular(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(6, 3))


def test_duplicate_ids_raise_a_data_error_naming_the_id() -> None:
    with pytest.raises(DataError, match=r"unique; 'b' appears twice"):
        ArrayDataset(tabular(), ids=["a", "b", "c", "b", "d", "e"], name="cases.npz")


def test_id_count_must_match_the_samples() -> None:
    with pytest.raises(DataError, match=r"cases\.npz: 2 ids for 6 samples"):
        ArrayDataset(tabular(), ids=["a", "b"], name="cases.npz")


def test_label_count_must_match_the_samples() -> None:
    with pytest.raises(DataError, match=r"cases\.npz: 5 labels for 6 samples"):
        ArrayDataset(tabular(), labels=[0, 1, 0, 1, 0], name="cases.npz")


def test_ids_default_to_positions_and_are_text() -> None:
    data = ArrayDataset(tabular(), ids=[10, 11, 12, 13, 14, 15])
    assert data.ids == ["10", "11", "12", "13", "14", "15"]
    assert ArrayDataset(tabular()).ids == ["0", "1", "2", "3", "4", "5"]


def test_fingerprint_is_stable_for_equal_content() -> None:
    first = ArrayDataset(tabular(), labels=[0, 1, 0, 1, 0, 1])
    second = ArrayDataset(tabular().copy(), labels=np.array([0, 1, 0, 1, 0, 1]))
    assert first.fingerprint() == second.fingerprint()
    assert len(first.fingerprint()) == 16


def test_fingerprint_changes_with_a_value_a_label_or_an_id() -> None:
    labels = [0, 1, 0, 1, 0, 1]
    base = ArrayDataset(tabular(), labels=labels).fingerprint()
    x = tabular()
    x[3, 1] = np.nextafter(x[3, 1], np.inf)  # the smallest possible change
    assert ArrayDataset(x, labels=labels).fingerprint() != base
    assert ArrayDataset(tabular(), labels=[0, 1, 0, 1, 0, 0]).fingerprint() != base
    assert ArrayDataset(tabular()).fingerprint() != base
    ids = ["0", "1", "2", "3", "4", "x"]
    assert ArrayDataset(tabular(), labels=labels, ids=ids).fingerprint() != base


def test_text_fingerprint_separates_samples() -> None:
    one = ArrayDataset(["ab", "c"], ids=["1", "2"])
    other = ArrayDataset(["a", "bc"], ids=["1", "2"])
    assert one.fingerprint() != other.fingerprint()
    assert one.fingerprint() == ArrayDataset(["ab", "c"], ids=["1", "2"]).fingerprint()


def test_take_returns_samples_in_the_order_asked() -> None:
    x = tabular()
    data = ArrayDataset(x)
    np.testing.assert_array_equal(data.take([4, 0, 2]), x[[4, 0, 2]])
    text = ArrayDataset(["zero", "one", "two"])
    assert text.take([2, 0]) == ["two", "zero"]
    assert data.take([]).shape == (0, 3)


def test_batch_is_a_range_of_samples() -> None:
    x = tabular()
    np.testing.assert_array_equal(ArrayDataset(x).batch(2, 5), x[2:5])


def test_context_column_sd_is_the_population_sd_of_each_column() -> None:
    x = tabular(seed=4) * np.array([1.0, 10.0, 0.1])
    context = ArrayDataset(x, feature_names=["a", "b", "c"]).context()
    assert context.modality == Modality.TABULAR
    assert context.column_sd is not None
    np.testing.assert_allclose(context.column_sd, np.std(x, axis=0), rtol=1e-12)
    assert context.feature_names == ("a", "b", "c")


def test_context_column_sd_ignores_missing_values() -> None:
    x = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0]])
    context = ArrayDataset(x).context()
    assert context.column_sd is not None
    np.testing.assert_allclose(context.column_sd, [np.std([1, 3, 5]), np.std([2, 4])])


def test_integer_tabular_inputs_become_float64() -> None:
    data = ArrayDataset(np.arange(6).reshape(3, 2))
    assert data.x.dtype == np.float64


def test_audio_keeps_its_sample_rate_in_the_context() -> None:
    data = ArrayDataset(np.zeros((2, 8), np.float32), modality="audio", sample_rate_hz=16000)
    assert data.context().sample_rate_hz == 16000
    assert data.context().modality == Modality.AUDIO


def test_unknown_shapes_and_non_numeric_inputs_are_data_errors() -> None:
    with pytest.raises(DataError, match=r"cannot tell the modality.*modality='audio'"):
        ArrayDataset(np.zeros(5))
    with pytest.raises(DataError, match="must be numeric"):
        ArrayDataset(np.array([["a", "b"]], dtype=object))
    with pytest.raises(DataError, match="list of str"):
        ArrayDataset(["a", 1], modality="text")


def test_work_on_one_size_refuses_samples_of_several_sizes_saying_how_to_fix():
    import pytest

    from wince.datasets.base import ArrayDataset, require_one_size
    from wince.errors import DataError

    mixed = ArrayDataset([np.zeros((4, 4, 1)), np.zeros((6, 6, 1)), np.zeros((4, 4, 1))])
    with pytest.raises(DataError, match=r"monitor: the live data hold samples of 2 sizes; "):
        require_one_size(
            mixed.batch(0, 3), where="monitor", which="live", purpose="estimates compare"
        )
    same = ArrayDataset(np.zeros((3, 4, 4, 1)))
    require_one_size(same.batch(0, 3), where="monitor", which="live", purpose="x")


def test_an_empty_clip_among_clips_of_several_lengths_is_refused() -> None:
    clips = [np.zeros(8, np.float32), np.zeros(0, np.float32), np.zeros(5, np.float32)]
    with pytest.raises(DataError, match=r"audio clip 1 holds no samples"):
        ArrayDataset(clips, modality="audio", sample_rate_hz=16000)


def test_a_dataset_unpacks_into_its_inputs_and_labels() -> None:
    x = tabular()
    inputs, labels = ArrayDataset(x, labels=[0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(inputs, x)
    assert labels is not None
    assert labels.tolist() == [0, 1, 0, 1, 1, 0]
    texts, no_labels = ArrayDataset(["a cat", "a dog"])
    assert texts == ["a cat", "a dog"]
    assert no_labels is None
