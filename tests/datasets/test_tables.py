"""Tables with categorical columns: encoded for the perturbations, decoded for the model."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import wince
from wince.datasets.loading import as_dataset
from wince.datasets.readers import read_frame
from wince.datasets.tables import TableInputs, encode_frame
from wince.errors import DataError
from wince.models import as_model


def customers(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Customers with a text column, a pandas category column and numbers; churn labels."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 10.0, n),
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
            "plan": pd.Categorical(rng.choice(["pro", "basic"], n), categories=["pro", "basic"]),
        }
    )
    churn = (frame["city"] == "Nice") | ((frame["plan"] == "basic") & (frame["income"] < 50))
    return frame, churn.astype(int).rename("churn")


def fitted_pipeline(frame: pd.DataFrame, labels: pd.Series) -> object:
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        (StandardScaler(), ["age", "income"]),
    )
    return make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, labels)


PLAN = {
    "name": "churn",
    "perturbations": [
        {"name": "tabular.category_typos", "values": [1.0], "params": {"columns": ["city"]}},
        {"name": "tabular.gaussian_noise", "levels": [3]},
        {"name": "tabular.missing_values", "values": [0.5], "params": {"columns": ["city"]}},
    ],
    "combinations": "none",
}


def accuracy(run: wince.Run, scenario_prefix: str) -> float:
    summary = run.summary()
    row = summary[summary["scenario"].str.startswith(scenario_prefix)]
    return float(row.query("metric == 'accuracy'")["value"].iloc[0])


@pytest.mark.slow
def test_a_dataframe_pipeline_with_categorical_columns_runs_without_a_warning(
    tmp_path: Path,
) -> None:
    frame, labels = customers()
    pipeline = fitted_pipeline(frame, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "X does not have valid feature names" and any other
        run = wince.run(pipeline, (frame, labels), PLAN, store=tmp_path / "store")
    expected_baseline = float(np.mean(pipeline.predict(frame) == labels))  # type: ignore[attr-defined]
    assert accuracy(run, "baseline") == pytest.approx(expected_baseline)
    # every city typed unknown: the encoder ignores it, as it would any misspelling
    unknown = frame.assign(city="-1")
    expected_typos = float(np.mean(pipeline.predict(unknown) == labels))  # type: ignore[attr-defined]
    assert accuracy(run, "tabular.category_typos") == pytest.approx(expected_typos)
    assert expected_typos < expected_baseline - 0.1  # the model leans on city: a real finding


def test_missing_categorical_cells_reach_the_model_as_missing(tmp_path: Path) -> None:
    frame, labels = customers(60)
    seen: list[pd.DataFrame] = []

    def model(batch: pd.DataFrame) -> np.ndarray:
        seen.append(batch)
        return (batch["city"] == "Nice").to_numpy().astype(int)

    wince.run(
        model,
        (frame, labels),
        {"name": "m", "perturbations": [PLAN["perturbations"][2]]},  # type: ignore[index]
        store=tmp_path / "store",
        cache=False,
    )
    assert all(isinstance(batch, pd.DataFrame) for batch in seen)
    clean = [batch for batch in seen if not batch["city"].isna().any()]
    perturbed = [batch for batch in seen if batch["city"].isna().any()]
    assert clean
    assert perturbed  # one batch per trial of the stochastic perturbation
    for batch in clean:
        pd.testing.assert_frame_equal(batch, frame)
    for batch in perturbed:
        lost = batch["city"].isna()
        assert 0 < lost.sum() < len(frame)
        assert (batch.loc[~lost, "city"] == frame.loc[~lost, "city"]).all()
        pd.testing.assert_frame_equal(batch.drop(columns="city"), frame.drop(columns="city"))


def test_category_columns_keep_their_categories_and_unknown_codes_become_missing() -> None:
    frame, _ = customers(8)
    x, schema = encode_frame(frame, list(frame.columns), [], "customers")
    assert schema.categories[3] == ("pro", "basic")  # the column's own order, not sorted
    x[0, 3] = -1.0  # a category typo's unknown code
    decoded = schema.to_frame(x)
    assert list(decoded["plan"].cat.categories) == ["pro", "basic"]
    assert pd.isna(decoded["plan"].iloc[0])
    assert (decoded["plan"].iloc[1:] == frame["plan"].iloc[1:]).all()


@pytest.mark.slow
def test_a_native_categorical_model_gets_the_category_dtype(tmp_path: Path) -> None:
    frame, labels = customers()
    frame = frame.assign(city=frame["city"].astype("category"))
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(frame, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = wince.run(model, (frame, labels), PLAN, store=tmp_path / "store")
    assert accuracy(run, "baseline") == pytest.approx(
        float(np.mean(model.predict(frame) == labels))
    )
    unknown = pd.Categorical([None] * len(frame), categories=frame["city"].cat.categories)
    assert accuracy(run, "tabular.category_typos") == pytest.approx(
        float(np.mean(model.predict(frame.assign(city=unknown)) == labels))
    )


frames = st.integers(1, 12).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "count": st.lists(st.integers(-1000, 1000), min_size=n, max_size=n),
            "flag": st.lists(st.booleans(), min_size=n, max_size=n),
            "word": st.lists(
                st.one_of(st.none(), st.text(min_size=1, max_size=4).filter(str.isalpha)),
                min_size=n,
                max_size=n,
            ),
            "level": st.lists(st.sampled_from(["low", "mid", "high"]), min_size=n, max_size=n),
            "value": st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=n, max_size=n),
        }
    )
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(frames)
def test_decoding_the_encoded_table_gives_the_table_back(columns: dict[str, list]) -> None:
    frame = pd.DataFrame(
        {
            "count": np.array(columns["count"], dtype=np.int64),
            "flag": np.array(columns["flag"], dtype=bool),
            "word": pd.Series(columns["word"], dtype=object),
            "level": pd.Categorical(columns["level"], categories=["low", "mid", "high"]),
            "value": pd.Series(columns["value"], dtype=np.float64),
        }
    )
    x, schema = encode_frame(frame, list(frame.columns), [], "random")
    assert x.dtype == np.float64
    assert schema.kinds == ("integer", "integer", "categorical", "categorical", "float")
    back = schema.to_frame(x)
    expected = frame.assign(word=frame["word"].where(frame["word"].notna(), np.nan))
    pd.testing.assert_frame_equal(back, expected)


def test_integer_columns_with_a_missing_cell_come_back_as_float() -> None:
    frame = pd.DataFrame({"n": [1, 2, 3], "c": ["a", "b", "a"]})
    x, schema = encode_frame(frame, ["n", "c"], [], "t")
    x[1, 0] = np.nan
    decoded = schema.to_frame(x)
    assert str(decoded["n"].dtype) == "float64"
    assert np.isnan(decoded["n"].iloc[1])
    x[1, 0] = 2.0
    assert str(schema.to_frame(x)["n"].dtype) == "int64"


def test_a_dataframe_is_read_as_a_table_with_its_labels() -> None:
    frame, labels = customers(10)
    data = as_dataset((frame, labels))
    assert data.feature_names == ("age", "income", "city", "plan")  # type: ignore[attr-defined]
    assert data.labels is not None
    assert data.labels.tolist() == labels.tolist()
    labelled = read_frame(frame.assign(label=labels.to_numpy()))
    assert labelled.feature_names == data.feature_names  # type: ignore[attr-defined]
    assert labelled.fingerprint() == data.fingerprint()
    renamed = read_frame(frame.assign(city=frame["city"].str.upper()), labels)
    assert renamed.fingerprint() != data.fingerprint()  # the categories are content
    with pytest.raises(DataError, match="9 labels for 10 rows"):
        read_frame(frame, labels[:9])


def test_mixed_types_in_a_column_are_refused_naming_it() -> None:
    frame = pd.DataFrame({"a": ["x", 3, "y"], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(
        DataError, match=r"column 'a' mixes values of types int, str \(mostly str; row 1: 3\)"
    ):
        read_frame(frame)


def test_the_model_wrapper_pickles_and_forwards_the_model_attributes(tmp_path: Path) -> None:
    import pickle

    frame, labels = customers(30)
    data = read_frame(frame, labels)
    assert data.schema is not None
    adapter = as_model(fitted_pipeline(frame, labels))
    wrapped = pickle.loads(pickle.dumps(TableInputs(adapter, data.schema)))
    assert wrapped.classes == adapter.classes
    assert wrapped.fingerprint() == adapter.fingerprint()
    np.testing.assert_array_equal(
        wrapped.predict(data.x).scores,  # type: ignore[arg-type]
        adapter.predict(frame).scores,  # type: ignore[arg-type]
    )


@pytest.mark.slow
def test_the_process_executor_gives_the_local_rows(tmp_path: Path) -> None:
    frame, labels = customers(120)
    pipeline = fitted_pipeline(frame, labels)
    local = wince.run(pipeline, (frame, labels), PLAN, store=tmp_path / "a", cache=False)
    pooled = wince.run(
        pipeline,
        (frame, labels),
        {**PLAN, "batch_size": 32},
        store=tmp_path / "b",
        executor="process",
        workers=2,
        cache=False,
    )
    columns = ["scenario", "trial", "sample_id", "correct", "flipped"]
    key = ["scenario", "trial", "sample_id"]
    a = local.outcomes()[columns].sort_values(key).reset_index(drop=True)
    b = pooled.outcomes()[columns].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))


@pytest.mark.slow
def test_analyses_that_call_the_model_again_see_the_table(tmp_path: Path) -> None:
    frame, labels = customers(80)
    pipeline = fitted_pipeline(frame, labels)
    run = wince.run(pipeline, (frame, labels), PLAN, store=tmp_path / "store")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        profile = run.analyze(
            model=pipeline, data=(frame, labels), columns=True, breaking_points=True
        )
    # numeric columns only: a category code moved by a small step is no category at all
    columns = profile.extras["columns"].table
    assert sorted(columns["column"]) == ["age", "income"]
    assert columns.set_index("column").loc["income", "mean_abs"] > 0
    # at the severe typo rate (0.2) a sample keeps its prediction unless its city is
    # mistyped (p = 0.2) and an unknown city changes it (measured directly); the plan swept
    # the rate to 1, where every city is mistyped, and the search goes that far
    typos = profile.extras["breaking_points"].items["tabular.category_typos"].survival
    unknown = pipeline.predict(frame.assign(city="-1"))  # type: ignore[attr-defined]
    flips = float(np.mean(unknown != pipeline.predict(frame)))  # type: ignore[attr-defined]
    assert flips > 0.2
    severe = typos[np.isclose(typos["value"], 0.2)]
    expected = 1 - 0.2 * flips
    spread = 3 * np.sqrt(expected * (1 - expected) / len(frame))
    assert abs(float(severe["survival"].iloc[0]) - expected) < spread
    assert float(typos["value"].iloc[-1]) == pytest.approx(1.0)
    assert float(typos["survival"].iloc[-1]) == pytest.approx(1 - flips)


def test_a_frames_own_index_gives_the_sample_ids() -> None:
    frame, labels = customers(6)
    shuffled = frame.iloc[[4, 0, 5]]  # as train_test_split leaves it
    data = read_frame(shuffled, labels.iloc[[4, 0, 5]])
    assert data.ids == ["4", "0", "5"]
    assert data.feature_names == ("age", "income", "city", "plan")
    assert data.labels is not None
    assert data.labels.tolist() == labels.iloc[[4, 0, 5]].tolist()
    assert read_frame(frame).ids == ["0", "1", "2", "3", "4", "5"]
    named = read_frame(frame.assign(patient=[f"p{i}" for i in range(6)]), id="patient")
    assert named.ids == [f"p{i}" for i in range(6)]
