"""Readers: real files written to tmp_path, read back through the readers and load_dataset."""

from __future__ import annotations

import json
import re
import struct
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wince.datasets import (
    ArrayDataset,
    ImageFolderDataset,
    WavFolderDataset,
    read_csv,
    read_images,
    read_jsonl,
    read_npz,
    read_parquet,
    read_text,
    read_wav,
)
from wince.datasets.loading import load_dataset
from wince.errors import DataError, PlanError
from wince.perturbations.base import Modality, RaggedBatch
from wince.plan import DataSpec


def names(path: Path) -> str:
    """A regex matching the path as messages print it."""
    return re.escape(str(path))


# --------------------------------------------------------------------------------------------
# npz


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_npz_reads_inputs_labels_and_ids(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = write_npz(
        tmp_path / "d.npz", x=x, y=np.array([1, 0, 1, 1]), sid=np.array(["a", "b", "c", "d"])
    )
    data = load_dataset(DataSpec(npz=str(path), id="sid"))
    assert isinstance(data, ArrayDataset)
    assert data.modality == Modality.TABULAR
    np.testing.assert_array_equal(data.x, x)
    assert data.labels is not None
    assert data.labels.tolist() == [1, 0, 1, 1]
    assert data.ids == ["a", "b", "c", "d"]
    assert data.name == str(path)


def test_npz_custom_keys_and_no_default_labels(tmp_path: Path) -> None:
    images = np.zeros((2, 4, 4, 3), np.uint8)
    path = write_npz(tmp_path / "d.npz", pixels=images, target=np.array(["cat", "dog"]))
    data = read_npz(path, DataSpec(npz=str(path), inputs="pixels", label="target"))
    assert data.modality == Modality.IMAGE
    assert data.labels is not None
    assert data.labels.tolist() == ["cat", "dog"]
    assert read_npz(path, inputs="pixels").labels is None
    assert data.ids == ["0", "1"]


def test_npz_keywords_override_the_spec(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", a=np.zeros((2, 2)), b=np.ones((2, 2)))
    data = read_npz(path, DataSpec(npz=str(path), inputs="a"), inputs="b")
    np.testing.assert_array_equal(data.x, np.ones((2, 2)))


def test_npz_string_inputs_are_text(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", x=np.array(["good", "bad"]), y=np.array([1, 0]))
    data = read_npz(path)
    assert data.modality == Modality.TEXT
    assert data.x == ["good", "bad"]


def test_npz_missing_key_names_the_file_and_lists_keys(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", inputs=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(DataError, match=names(path)) as error:
        read_npz(path)
    message = str(error.value)
    assert "no key 'x' (data.inputs)" in message
    assert "'inputs', 'y'" in message
    with pytest.raises(DataError, match=r"no key 'yy' \(data.label\).*Did you mean 'y'\?"):
        read_npz(path, inputs="inputs", label="yy")


def test_npz_limit_and_label_length_mismatch(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", x=np.arange(10.0).reshape(5, 2), y=np.arange(5))
    data = load_dataset(DataSpec(npz=str(path), limit=2))
    assert isinstance(data, ArrayDataset)
    np.testing.assert_array_equal(data.x, [[0.0, 1.0], [2.0, 3.0]])
    bad = write_npz(tmp_path / "bad.npz", x=np.zeros((5, 2)), y=np.arange(4))
    with pytest.raises(DataError, match=names(bad) + ": 4 labels for 5 samples"):
        read_npz(bad)


def test_npz_refuses_object_arrays_and_single_arrays(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=names(path) + ".*Python objects"):
        read_npz(path)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((2, 2)))
    with pytest.raises(DataError, match=names(single) + ".*numpy.savez"):
        read_npz(single)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=names(garbage)):
        read_npz(garbage)


def test_npz_fingerprint_is_stable_and_tracks_content(tmp_path: Path) -> None:
    x = np.arange(6.0).reshape(3, 2)
    path = write_npz(tmp_path / "d.npz", x=x, y=np.arange(3))
    assert read_npz(path).fingerprint() == read_npz(path).fingerprint()
    x[2, 1] = 5.5
    other = write_npz(tmp_path / "e.npz", x=x, y=np.arange(3))
    assert read_npz(other).fingerprint() != read_npz(path).fingerprint()


def test_npz_rejects_features(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", x=np.zeros((2, 2)))
    with pytest.raises(PlanError, match=re.escape("data.features does not apply to data.npz")):
        read_npz(path, DataSpec(npz=str(path), features=["a"]))


# --------------------------------------------------------------------------------------------
# CSV and Parquet


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case": ["007", "008", "010"],
            "age": [31, 45, 52],
            "city": ["Oslo", "Bergen", "Oslo"],
            "dose": [0.5, np.nan, 2.25],
            "smoker": [True, False, True],
            "label": ["sick", "well", "sick"],
        }
    )


def test_csv_defaults_every_feature_label_column_and_row_ids(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    sample_frame().to_csv(path, index=False)
    data = load_dataset(DataSpec(csv=str(path)))
    assert isinstance(data, ArrayDataset)
    assert data.modality == Modality.TABULAR
    # "007" parses as 7; the text column city holds codes of its sorted categories
    assert data.feature_names == ("case", "age", "city", "dose", "smoker")
    assert data.x.dtype == np.float64
    np.testing.assert_array_equal(
        data.x, [[7, 31, 1, 0.5, 1], [8, 45, 0, np.nan, 0], [10, 52, 1, 2.25, 1]]
    )
    assert data.labels is not None
    assert data.labels.tolist() == ["sick", "well", "sick"]
    assert data.ids == ["0", "1", "2"]
    kinds = ("integer", "integer", "categorical", "float", "integer")
    assert data.context().column_kinds == kinds


def test_integer_columns_of_a_csv_stay_whole_under_numeric_noise(tmp_path: Path) -> None:
    from wince.perturbations import Rngs, get

    path = tmp_path / "t.csv"
    sample_frame().to_csv(path, index=False)
    data = read_csv(path, label="label", id="case", features=["age", "dose"])
    noise = get("tabular.gaussian_noise")()
    out = noise.perturb(data.x, 0.5, Rngs.for_samples(data.ids), data.context())
    assert np.array_equal(out[:, 0], np.round(out[:, 0]))  # age: whole years
    assert not np.array_equal(out[:, 0], data.x[:, 0])


def test_csv_id_column_is_read_as_text_and_left_out_of_features(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    sample_frame().to_csv(path, index=False)
    data = read_csv(path, DataSpec(csv=str(path), id="case"))
    assert data.ids == ["007", "008", "010"]
    assert data.feature_names == ("age", "city", "dose", "smoker")


def test_csv_explicit_features_keep_their_order(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    sample_frame().to_csv(path, index=False)
    data = read_csv(path, label="label", id="case", features=["dose", "age"])
    assert data.feature_names == ("dose", "age")
    np.testing.assert_array_equal(data.x, [[0.5, 31], [np.nan, 45], [2.25, 52]])
    context = data.context()
    assert context.feature_names == ("dose", "age")
    assert context.column_sd is not None
    np.testing.assert_allclose(context.column_sd, [np.std([0.5, 2.25]), np.std([31, 45, 52])])


def test_csv_text_feature_reaches_the_model_as_its_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    sample_frame().to_csv(path, index=False)
    data = read_csv(path, features=["age", "city"])
    assert data.schema is not None
    assert data.schema.categories == (None, ("Bergen", "Oslo"))
    frame = data.schema.to_frame(data.x)
    assert frame["city"].tolist() == ["Oslo", "Bergen", "Oslo"]
    assert frame["age"].tolist() == [31, 45, 52]
    assert str(frame["age"].dtype) == "int64"


def test_csv_numbers_declared_categorical_are_categories(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("zip,x\n75001,1.5\n69002,2.5\n75001,0.5\n")
    data = load_dataset(DataSpec(csv=str(path), categorical=["zip"]))
    assert isinstance(data, ArrayDataset)
    assert data.column_kinds == ("categorical", "float")
    assert data.x[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert data.schema is not None
    assert data.schema.to_frame(data.x)["zip"].tolist() == [75001, 69002, 75001]
    typed = data.x.copy()
    typed[0, 0] = -1.0  # a category typo's unknown code: the number itself
    typed[1, 0] = np.nan  # a missing cell: the column reads as float, as pandas reads it
    decoded = data.schema.to_frame(typed)["zip"]
    assert str(decoded.dtype) == "float64"
    assert decoded.tolist()[0] == -1.0
    assert np.isnan(decoded.tolist()[1])
    assert decoded.tolist()[2] == 75001.0
    with pytest.raises(DataError, match=r"no column 'y' \(data.categorical\)"):
        read_csv(path, categorical=["y"])
    with pytest.raises(DataError, match=r"data\.categorical names 'zip', which is not a feature"):
        read_csv(path, features=["x"], categorical=["zip"])


def test_csv_stray_text_in_a_numeric_column_names_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    numbers = [str(v) for v in range(10)]
    numbers[1], numbers[4], numbers[6], numbers[8] = "?", "x", "y", "z"  # file lines 3, 6, 8, 10
    path.write_text("a,b\n" + "".join(f"{i},{v}\n" for i, v in enumerate(numbers)))
    with pytest.raises(
        DataError,
        match=r"'b' holds numbers and 4 text cell\(s\) \(line 3: '\?', line 6: 'x', line 8: 'y' "
        r"and 1 more\); correct those cells",
    ):
        read_csv(path, features=["a", "b"])


def test_csv_missing_columns_and_empty_labels(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("age,label\n1,x\n2,y\n")
    with pytest.raises(DataError, match=r"no column 'agee' \(data.features\).*'age'\?"):
        read_csv(path, features=["agee"])
    with pytest.raises(DataError, match=r"no column 'y' \(data.label\); columns are 'age'"):
        read_csv(path, label="y")
    path.write_text("age,label\n1,x\n2,\n")
    with pytest.raises(DataError, match=names(path) + r": label column 'label' is empty in line 3"):
        read_csv(path)


def test_csv_duplicate_ids_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,a\nx,1\ny,2\nx,3\n")
    with pytest.raises(DataError, match=names(path) + r".*'x' appears twice"):
        read_csv(path, id="id")


def test_csv_without_feature_columns_or_unparsable(tmp_path: Path) -> None:
    ids_only = tmp_path / "ids.csv"
    ids_only.write_text("name,label\nann,1\nbob,0\n")
    with pytest.raises(DataError, match="no feature columns besides the label and id"):
        read_csv(ids_only, id="name")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n1,2,3,4\n")
    with pytest.raises(DataError, match=names(ragged) + ": not a readable CSV"):
        read_csv(ragged)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=names(empty)):
        read_csv(empty)


def test_csv_whose_first_row_is_data_is_refused_but_unnamed_columns_are_read(
    tmp_path: Path,
) -> None:
    headless = tmp_path / "headless.csv"
    headless.write_text("1.5,2.5,0\n3.5,4.5,1\n")
    with pytest.raises(DataError, match=r"first row \(1\.5,2\.5,0\) holds numbers"):
        read_csv(headless)
    unnamed = tmp_path / "unnamed.csv"
    pd.DataFrame(np.array([[1.5, 2.5], [3.5, 4.5]])).to_csv(unnamed, index=False)
    data = read_csv(unnamed)
    assert data.feature_names == ("0", "1")
    assert data.x.tolist() == [[1.5, 2.5], [3.5, 4.5]]


def test_csv_limit_reads_the_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": range(100)}).to_csv(path, index=False)
    data = load_dataset(DataSpec(csv=str(path), limit=3))
    assert isinstance(data, ArrayDataset)
    assert data.x.ravel().tolist() == [0.0, 1.0, 2.0]


def test_csv_fingerprint_is_stable_and_changes_with_one_byte(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n")
    assert read_csv(path).fingerprint() == read_csv(path).fingerprint()
    before = read_csv(path).fingerprint()
    path.write_text("a,b,label\n1,2,x\n3,5,y\n")
    assert read_csv(path).fingerprint() != before
    path.write_text("a,b,label\n1,2,x\n3,4,z\n")
    assert read_csv(path).fingerprint() != before


def test_csv_rejects_inputs(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(PlanError, match=re.escape("data.inputs does not apply to data.csv")):
        read_csv(path, DataSpec(csv=str(path), inputs="a"))


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame = sample_frame().assign(case=[7, 8, 10])
    frame.to_parquet(path)
    data = load_dataset(DataSpec(parquet=str(path), id="case", label="label"))
    assert isinstance(data, ArrayDataset)
    assert data.ids == ["7", "8", "10"]
    assert data.feature_names == ("age", "city", "dose", "smoker")
    np.testing.assert_array_equal(data.x, [[31, 1, 0.5, 1], [45, 0, np.nan, 0], [52, 1, 2.25, 1]])
    assert data.labels is not None
    assert data.labels.tolist() == ["sick", "well", "sick"]
    limited = read_parquet(path, limit=2, id="case")
    assert limited.ids == ["7", "8"]
    assert read_parquet(path).fingerprint() == read_parquet(path).fingerprint()


def test_parquet_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    sample_frame().to_parquet(path)
    numbers_and_text = tmp_path / "mixed.parquet"
    pd.DataFrame({"b": ["1", "2", "x"]}).to_parquet(numbers_and_text)
    with pytest.raises(DataError, match=names(numbers_and_text) + ".*'b'.*\\(row 2: 'x'\\)"):
        read_parquet(numbers_and_text)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=names(garbage) + ": not a readable Parquet"):
        read_parquet(garbage)


# --------------------------------------------------------------------------------------------
# Missing paths (every kind)


@pytest.mark.parametrize("kind", ["npz", "csv", "parquet", "images", "text", "jsonl", "wav"])
def test_missing_source_names_the_path_and_the_plan_field(tmp_path: Path, kind: str) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"no such file: {names(missing)}; check data.{kind}"):
        load_dataset(DataSpec(**{kind: str(missing)}))


def test_file_and_folder_mixups_are_data_errors(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match=re.escape("is a file; data.images names a folder")):
        read_images(tmp_path / "a.csv")
    with pytest.raises(DataError, match=re.escape("is a folder; data.csv names a file")):
        read_csv(tmp_path)


# --------------------------------------------------------------------------------------------
# Image folders


def pixels(value: int, size: tuple[int, int] = (5, 4), channels: int = 3) -> np.ndarray:
    """A distinctive (height, width, channels) uint8 image: a ramp offset by `value`."""
    width, height = size
    ramp = np.arange(height * width * channels).reshape(height, width, channels)
    return ((ramp + value) % 256).astype(np.uint8)


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    (image.convert(mode) if mode else image).save(path)
    return path


def image_folder(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path / "images"
    written = {
        "cat/b.png": pixels(10),
        "cat/a.png": pixels(20),
        "dog/z.png": pixels(30),
        "dog/sub/c.png": pixels(40),
    }
    for name, array in written.items():
        save(folder / name, array)
    (folder / "cat" / "notes.txt").write_text("not an image")
    save(folder / "dog" / ".hidden.png", pixels(50))
    return folder, written


def test_image_folder_labels_ids_and_exact_pixels(tmp_path: Path) -> None:
    folder, written = image_folder(tmp_path)
    data = load_dataset(DataSpec(images=str(folder)))
    assert isinstance(data, ImageFolderDataset)
    assert data.modality == Modality.IMAGE
    assert data.ids == ["cat/a.png", "cat/b.png", "dog/sub/c.png", "dog/z.png"]
    assert data.labels is not None
    assert data.labels.tolist() == ["cat", "cat", "dog", "dog"]
    x = data.batch(0, len(data))
    assert x.shape == (4, 4, 5, 3)
    assert x.dtype == np.uint8
    for i, sample_id in enumerate(data.ids):
        np.testing.assert_array_equal(x[i], written[sample_id])
    np.testing.assert_array_equal(data.take([3, 0]), x[[3, 0]])
    assert data.batch(4, 9).shape == (0, 4, 5, 3)
    assert data.context().modality == Modality.IMAGE


def test_images_directly_in_the_folder_are_unlabelled(tmp_path: Path) -> None:
    save(tmp_path / "2.PNG", pixels(1))
    save(tmp_path / "1.jpg", pixels(2))
    save(tmp_path / "3.bmp", pixels(3))
    data = read_images(tmp_path)
    assert data.labels is None
    assert data.ids == ["1.jpg", "2.PNG", "3.bmp"]
    np.testing.assert_array_equal(data.batch(2, 3)[0], pixels(3))


def test_all_greyscale_images_have_one_channel(tmp_path: Path) -> None:
    save(tmp_path / "a" / "1.png", pixels(5, channels=1))
    save(tmp_path / "b" / "2.png", pixels(6, channels=1))
    data = read_images(tmp_path)
    x = data.batch(0, 2)
    assert x.shape == (2, 4, 5, 1)
    np.testing.assert_array_equal(x[1], pixels(6, channels=1))


def test_mixed_grey_and_colour_images_are_rgb(tmp_path: Path) -> None:
    save(tmp_path / "1.png", pixels(5, channels=1))
    save(tmp_path / "2.png", pixels(6))
    rgba = np.concatenate([pixels(7), np.full((4, 5, 1), 9, np.uint8)], axis=2)
    save(tmp_path / "3.png", rgba)
    x = read_images(tmp_path).batch(0, 3)
    assert x.shape == (3, 4, 5, 3)
    np.testing.assert_array_equal(x[0], np.repeat(pixels(5, channels=1), 3, axis=2))
    np.testing.assert_array_equal(x[2], pixels(7))  # alpha dropped


def test_images_of_different_sizes_are_read_at_their_own_sizes(tmp_path: Path) -> None:
    save(tmp_path / "cat" / "a.png", pixels(1, size=(5, 4)))
    save(tmp_path / "cat" / "b.png", pixels(2, size=(5, 4)))
    save(tmp_path / "dog" / "c.png", pixels(3, size=(6, 4)))
    data = read_images(tmp_path)
    x = data.batch(0, 3)
    assert isinstance(x, RaggedBatch)
    assert x.shapes == [(4, 5, 3), (4, 5, 3), (4, 6, 3)]  # (height, width, channels)
    np.testing.assert_array_equal(x[2], pixels(3, size=(6, 4)))
    same = data.batch(0, 2)  # one size: an ordinary batch
    assert isinstance(same, np.ndarray)
    assert same.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(data.take([2, 0])[1], pixels(1, size=(5, 4)))


def test_image_folder_layout_errors(tmp_path: Path) -> None:
    save(tmp_path / "loose.png", pixels(1))
    save(tmp_path / "cat" / "a.png", pixels(1))
    with pytest.raises(DataError, match=r"both directly \(loose.png\) and in subfolders"):
        read_images(tmp_path)
    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    (empty / "cat" / "x.txt").write_text("")
    with pytest.raises(DataError, match=names(empty) + ": no images"):
        read_images(empty)


def test_unreadable_image_is_a_data_error_naming_it(tmp_path: Path) -> None:
    save(tmp_path / "a.png", pixels(1))
    (tmp_path / "b.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError, match=names(tmp_path / "b.png") + ": not a readable image"):
        read_images(tmp_path)


def test_sixteen_bit_images_are_refused_rather_than_clipped(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5), 40000, np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(DataError, match=names(tmp_path / "deep.png") + ".*8 bits per channel"):
        read_images(tmp_path)


def test_image_batches_open_only_the_requested_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = image_folder(tmp_path)
    data = read_images(folder)
    opened: list[str] = []
    original = Image.open

    def counting_open(path: Path, *args: object, **kwargs: object) -> Image.Image:
        opened.append(Path(path).relative_to(folder).as_posix())
        return original(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", counting_open)
    data.batch(1, 3)
    assert opened == ["cat/b.png", "dog/sub/c.png"]
    opened.clear()
    data.take([3])
    assert opened == ["dog/z.png"]


def test_image_limit_is_applied_while_reading(tmp_path: Path) -> None:
    folder, _ = image_folder(tmp_path)
    data = load_dataset(DataSpec(images=str(folder), limit=3))
    assert isinstance(data, ImageFolderDataset)
    assert data.ids == ["cat/a.png", "cat/b.png", "dog/sub/c.png"]
    assert data.batch(0, 10).shape[0] == 3


def test_image_fingerprint_is_stable_and_tracks_bytes_names_and_labels(tmp_path: Path) -> None:
    folder, _ = image_folder(tmp_path)
    first = read_images(folder).fingerprint()
    assert first == read_images(folder).fingerprint()
    assert len(first) == 16
    target = folder / "dog" / "z.png"
    original = target.read_bytes()
    changed = pixels(30).copy()
    changed[0, 0, 0] ^= 1
    save(target, changed)
    assert read_images(folder).fingerprint() != first
    target.write_bytes(original)
    assert read_images(folder).fingerprint() == first
    target.rename(folder / "cat" / "z.png")  # same bytes, another label
    assert read_images(folder).fingerprint() != first


@pytest.mark.parametrize("field", ["label", "id", "inputs", "features"])
@pytest.mark.parametrize("kind", ["images", "wav"])
def test_folders_reject_the_options_their_layout_decides(
    tmp_path: Path, kind: str, field: str
) -> None:
    value: object = ["a"] if field == "features" else "y"
    spec = DataSpec.model_validate({kind: str(tmp_path), field: value})
    reader = read_images if kind == "images" else read_wav
    message = f"data.{field} does not apply to data.{kind}: labels are the subfolder names"
    with pytest.raises(PlanError, match=re.escape(message)):
        reader(tmp_path, spec)


# --------------------------------------------------------------------------------------------
# Text and JSONL


def test_text_lines_are_samples_with_line_number_ids(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffgood film\r\n\n   \nbad  plot \nÜber\n".encode())
    data = load_dataset(DataSpec(text=str(path)))
    assert isinstance(data, ArrayDataset)
    assert data.modality == Modality.TEXT
    assert data.x == ["good film", "bad  plot ", "Über"]
    assert data.ids == ["1", "4", "5"]
    assert data.labels is None
    limited = load_dataset(DataSpec(text=str(path), limit=2))
    assert isinstance(limited, ArrayDataset)
    assert limited.x == ["good film", "bad  plot "]


def test_text_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    with pytest.raises(DataError, match=names(path) + " line 3: not valid UTF-8"):
        read_text(path)
    path.write_text("\n \n")
    with pytest.raises(DataError, match=names(path) + ": no text"):
        read_text(path)
    with pytest.raises(PlanError, match=r"data.label does not apply to data.text.*data.jsonl"):
        read_text(path, DataSpec(text=str(path), label="y"))


def test_text_fingerprint_is_stable_and_changes_with_one_byte(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("one\ntwo\n")
    assert read_text(path).fingerprint() == read_text(path).fingerprint()
    before = read_text(path).fingerprint()
    path.write_text("one\ntwp\n")
    assert read_text(path).fingerprint() != before


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_jsonl_reads_text_labels_and_line_ids(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl",
        {"text": "good", "label": "pos"},
        {"text": "bad", "label": "neg", "extra": 1},
    )
    data = load_dataset(DataSpec(jsonl=str(path)))
    assert isinstance(data, ArrayDataset)
    assert data.modality == Modality.TEXT
    assert data.x == ["good", "bad"]
    assert data.labels is not None
    assert data.labels.tolist() == ["pos", "neg"]
    assert data.ids == ["1", "2"]


def test_jsonl_custom_fields_and_no_labels(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"body": "a", "key": 10, "y": 1}\n\n{"body": "b", "key": 11, "y": 0}\n')
    data = read_jsonl(path, DataSpec(jsonl=str(path), inputs="body", id="key", label="y"))
    assert data.x == ["a", "b"]
    assert data.ids == ["10", "11"]
    assert data.labels is not None
    assert data.labels.tolist() == [1, 0]
    assert read_jsonl(path, inputs="body").labels is None
    assert read_jsonl(path, inputs="body").ids == ["1", "3"]
    assert read_jsonl(path, inputs="body", limit=1).x == ["a"]


def test_jsonl_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": "broken"\n')
    with pytest.raises(DataError, match=names(path) + " line 3: not valid JSON"):
        read_jsonl(path)
    path.write_text('{"text": "ok"}\n["a list"]\n')
    with pytest.raises(DataError, match=names(path) + " line 2: each line must be a JSON object"):
        read_jsonl(path)


def test_jsonl_record_errors_name_the_line_and_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", {"text": "a"}, {"txt": "b"})
    with pytest.raises(DataError, match=r"line 2: the record has no field 'text'.*'txt'"):
        read_jsonl(path)
    path = write_jsonl(tmp_path / "r.jsonl", {"text": "a", "label": 1}, {"text": "b"})
    with pytest.raises(DataError, match=r"line 2: the record has no field 'label'"):
        read_jsonl(path)
    path = write_jsonl(tmp_path / "r.jsonl", {"text": "a", "label": None})
    with pytest.raises(DataError, match=r"line 1: the record has a null field 'label'"):
        read_jsonl(path)
    path = write_jsonl(tmp_path / "r.jsonl", {"text": 3})
    with pytest.raises(DataError, match=r"line 1: field 'text' must be a string"):
        read_jsonl(path)
    path = write_jsonl(tmp_path / "r.jsonl", {"text": "a", "label": 1}, {"text": "b", "label": "1"})
    with pytest.raises(DataError, match=r"line 2: label '1' is of a different type"):
        read_jsonl(path)
    path = write_jsonl(tmp_path / "r.jsonl", {"text": "a", "id": 1}, {"text": "b", "id": 1})
    with pytest.raises(DataError, match=names(path) + r".*'1' appears twice"):
        read_jsonl(path, id="id")


def test_jsonl_fingerprint_is_stable_and_changes_with_a_label(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", {"text": "a", "label": 1})
    before = read_jsonl(path).fingerprint()
    assert read_jsonl(path).fingerprint() == before
    write_jsonl(path, {"text": "a", "label": 2})
    assert read_jsonl(path).fingerprint() != before


# --------------------------------------------------------------------------------------------
# WAV folders


def write_pcm(path: Path, frames: np.ndarray, *, rate: int = 8000, width: int = 2) -> Path:
    """Integer frames (n,) or (n, channels) as a PCM WAV file via the `wave` module."""
    frames = frames.reshape(len(frames), -1)
    if width == 1:
        raw = (frames + 128).astype(np.uint8).tobytes()
    elif width == 3:
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in frames.ravel())
    else:
        raw = frames.astype(f"<i{width}").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[1])
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw)
    return path


def write_riff(path: Path, fmt: bytes, data: bytes) -> Path:
    """A WAV file from raw chunks, with an odd-sized LIST chunk before the data."""
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 3) + b"abc" + b"\0"
    chunks += b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path


def write_float(path: Path, frames: np.ndarray, *, rate: int = 8000) -> Path:
    frames = frames.reshape(len(frames), -1).astype("<f4")
    channels = frames.shape[1]
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * 4 * channels, 4 * channels, 32)
    return write_riff(path, fmt, frames.tobytes())


def test_wav_folder_labels_ids_mono_and_own_lengths(tmp_path: Path) -> None:
    folder = tmp_path / "wav"
    write_pcm(folder / "no" / "b.wav", np.array([16384, -16384, 8192]))
    write_pcm(folder / "yes" / "a.wav", np.array([[32767, -32768], [100, 300]]))  # stereo
    data = load_dataset(DataSpec(wav=str(folder)))
    assert isinstance(data, WavFolderDataset)
    assert data.modality == Modality.AUDIO
    assert data.ids == ["no/b.wav", "yes/a.wav"]
    assert data.labels is not None
    assert data.labels.tolist() == ["no", "yes"]
    assert data.sample_rate_hz == 8000
    assert data.context().sample_rate_hz == 8000
    assert data.context().modality == Modality.AUDIO
    x = data.batch(0, 2)
    assert isinstance(x, RaggedBatch)
    assert x.dtype == np.float32
    assert x.shapes == [(3,), (2,)]
    np.testing.assert_array_equal(x[0], np.array([0.5, -0.5, 0.25], np.float32))
    expected = np.array([(32767 - 32768) / 2 / 32768, 200 / 32768], np.float32)
    np.testing.assert_array_equal(x[1], expected)  # not padded
    taken = data.take([1, 0])
    assert taken.shapes == [(2,), (3,)]


def test_wav_folder_pads_to_the_longest_clip_when_asked(tmp_path: Path) -> None:
    folder = tmp_path / "wav"
    write_pcm(folder / "b.wav", np.array([16384, -16384, 8192]))
    write_pcm(folder / "a.wav", np.array([100, 300]))
    padded = load_dataset(DataSpec(wav=str(folder), pad=True))
    x = padded.batch(0, 2)
    assert x.shape == (2, 3)
    np.testing.assert_array_equal(x[0], np.array([100, 300, 0], np.float32) / 32768)
    np.testing.assert_array_equal(padded.take([1, 0]), x[[1, 0]])
    # padded and unpadded clips are different inputs: different fingerprints
    own = read_wav(folder)
    assert own.fingerprint() != padded.fingerprint()
    with pytest.raises(PlanError, match=r"data\.pad does not apply to data\.npz"):
        load_dataset(DataSpec(npz=str(folder / "x.npz"), pad=True))


def test_wav_clips_of_one_length_are_one_batch_with_or_without_padding(tmp_path: Path) -> None:
    write_pcm(tmp_path / "a.wav", np.array([1, 2, 3]))
    write_pcm(tmp_path / "b.wav", np.array([4, 5, 6]))
    own, padded = read_wav(tmp_path), read_wav(tmp_path, pad=True)
    np.testing.assert_array_equal(own.batch(0, 2), padded.batch(0, 2))
    assert own.fingerprint() == padded.fingerprint()


def test_wav_sample_formats(tmp_path: Path) -> None:
    write_pcm(tmp_path / "1-u8.wav", np.array([64, -128, 0]), width=1)
    write_pcm(tmp_path / "2-s24.wav", np.array([2**22, -(2**23), 1]), width=3)
    write_pcm(tmp_path / "3-s32.wav", np.array([2**30, -(2**31), 0]), width=4)
    write_float(tmp_path / "4-f32.wav", np.array([[0.25, 0.75], [-1.0, 1.0], [0.1, 0.1]]))
    x = read_wav(tmp_path).batch(0, 4)
    np.testing.assert_array_equal(x[0], [0.5, -1.0, 0.0])
    np.testing.assert_array_equal(x[1], np.array([0.5, -1.0, 2.0**-23], np.float32))
    np.testing.assert_array_equal(x[2], [0.5, -1.0, 0.0])
    np.testing.assert_array_equal(x[3], np.array([0.5, 0.0, 0.1], np.float32))


def test_wav_extensible_header_is_read(tmp_path: Path) -> None:
    base = struct.pack("<HHIIHH", 0xFFFE, 1, 16000, 32000, 2, 16)
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    extension = struct.pack("<HHIH", 22, 16, 4, 1) + guid_tail
    write_riff(tmp_path / "x.wav", base + extension, np.array([8192, -8192], "<i2").tobytes())
    data = read_wav(tmp_path)
    assert data.sample_rate_hz == 16000
    np.testing.assert_array_equal(data.batch(0, 1), [[0.25, -0.25]])


def test_wav_sample_rates_must_match(tmp_path: Path) -> None:
    write_pcm(tmp_path / "a" / "1.wav", np.zeros(4), rate=8000)
    write_pcm(tmp_path / "b" / "2.wav", np.zeros(4), rate=16000)
    with pytest.raises(DataError, match=names(tmp_path)) as error:
        read_wav(tmp_path)
    message = str(error.value)
    assert "a/1.wav is 8000 Hz but b/2.wav is 16000 Hz" in message
    assert "Resample" in message


def test_wav_unreadable_and_out_of_range_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(DataError, match=names(bad / "x.wav")):
        read_wav(bad)
    loud = tmp_path / "loud"
    write_float(loud / "x.wav", np.array([0.5, 1.5]))
    data = read_wav(loud)
    with pytest.raises(DataError, match=names(loud / "x.wav") + r".*peak of 1.5"):
        data.batch(0, 1)
    mulaw = tmp_path / "mulaw"
    write_riff(mulaw / "x.wav", struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8), b"\0\0")
    with pytest.raises(DataError, match=r"WAV sample format 7 is not supported.*ffmpeg"):
        read_wav(mulaw)


def test_wav_fingerprint_and_limit(tmp_path: Path) -> None:
    write_pcm(tmp_path / "a.wav", np.array([1, 2, 3]))
    write_pcm(tmp_path / "b.wav", np.array([4, 5]))
    first = read_wav(tmp_path).fingerprint()
    assert read_wav(tmp_path).fingerprint() == first
    write_pcm(tmp_path / "b.wav", np.array([4, 6]))
    assert read_wav(tmp_path).fingerprint() != first
    limited = load_dataset(DataSpec(wav=str(tmp_path), limit=1))
    assert isinstance(limited, WavFolderDataset)
    assert limited.ids == ["a.wav"]
    assert limited.batch(0, 5).shape == (1, 3)
