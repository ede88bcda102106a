"""Text: a UTF-8 file with one sample per line, and JSON Lines records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wince.datasets.base import ArrayDataset
from wince.datasets.readers.common import check_limit, existing, option, reject
from wince.errors import DataError
from wince.perturbations.base import Modality

if TYPE_CHECKING:
    from wince.plan import DataSpec


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of each non-blank line of a UTF-8 file, without the EOL."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad_line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path} line {bad_line}: not valid UTF-8 ({error.reason}); save the file as UTF-8."
        ) from None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


def read_text(
    path: str | Path, spec: DataSpec | None = None, *, limit: int | None = None
) -> ArrayDataset:
    r"""A UTF-8 text file with one sample per line; blank lines are skipped.

    Lines are kept as written except for the line ending. A text file has no labels: use
    JSONL for labelled text.

    Args:
        path: the text file.
        spec: the plan's data section (`limit`).
        limit: keep the first N samples.

    Returns:
        An in-memory text dataset whose ids are the 1-based line numbers in the file.

    Raises:
        DataError: missing file, invalid UTF-8 (with the line) or no non-blank line.
        PlanError: `data.label`, `data.id`, `data.inputs` or `data.features` is set.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "reviews.txt"
        ...     _ = path.write_text("good film\n\nbad plot\n")
        ...     data = read_text(path)
        >>> data.x, data.ids
        (['good film', 'bad plot'], ['1', '3'])
    """
    reject(
        spec,
        "text",
        ["label", "id", "inputs", "features"],
        "a text file holds one sample per line and nothing else; use data.jsonl for labels.",
    )
    target = existing(path, "text", folder=False)
    n = check_limit(option(spec, "limit", limit))
    ids: list[str] = []
    texts: list[str] = []
    for number, line in _lines(target):
        if n is not None and len(texts) == n:
            break
        ids.append(str(number))
        texts.append(line)
    if not texts:
        raise DataError(f"{target}: no text; put one sample per line.")
    return ArrayDataset(texts, ids=ids, modality=Modality.TEXT, name=str(target))


def read_jsonl(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    inputs: str | None = None,
    label: str | None = None,
    id: str | None = None,
    limit: int | None = None,
) -> ArrayDataset:
    r"""JSON Lines: one JSON object per line holding a text, and optionally a label and an id.

    Args:
        path: the .jsonl file (UTF-8); blank lines are skipped.
        spec: the plan's data section (`inputs`, `label`, `id`, `limit`).
        inputs: field holding the text; default "text".
        label: field holding the label; default "label" if any record has it, else no labels.
        id: field holding the sample id; default the 1-based line number.
        limit: keep the first N samples.

    Returns:
        An in-memory text dataset.

    Raises:
        DataError: missing file, a line that is not a JSON object, a record without the text,
            label or id field (or with a null label), a text that is not a string, labels of
            mixed types, or duplicate ids.
        PlanError: `data.features` is set.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "reviews.jsonl"
        ...     _ = path.write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
        ...     data = read_jsonl(path)
        >>> data.x, data.labels.tolist(), data.ids
        (['good', 'bad'], [1, 0], ['1', '2'])
    """
    reject(spec, "jsonl", ["features"], "JSONL records hold text, not feature columns.")
    target = existing(path, "jsonl", folder=False)
    text_field = option(spec, "inputs", inputs) or "text"
    label_field = option(spec, "label", label)
    id_field = option(spec, "id", id)
    n = check_limit(option(spec, "limit", limit))
    records = _records(target, n)
    if label_field is None and any("label" in record for _, record in records):
        label_field = "label"
    texts, labels, ids = [], [], []
    for number, record in records:
        text = _field(target, number, record, text_field, "inputs")
        if not isinstance(text, str):
            raise DataError(
                f"{target} line {number}: field {text_field!r} must be a string; got {text!r}."
            )
        texts.append(text)
        ids.append(str(_field(target, number, record, id_field, "id")) if id_field else str(number))
        if label_field is not None:
            labels.append(_field(target, number, record, label_field, "label"))
    if labels:
        _check_label_types(labels, [number for number, _ in records], target)
    return ArrayDataset(
        texts,
        labels if label_field is not None else None,
        ids=ids,
        modality=Modality.TEXT,
        name=str(target),
    )


def _records(target: Path, limit: int | None) -> list[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of the first `limit` non-blank lines (None: all).

    Raises:
        DataError: a line that is not a JSON object, or no record at all.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in _lines(target):
        if limit is not None and len(records) == limit:
            break
        where = f"{target} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{where}: not valid JSON ({error.msg} at column {error.colno}); each line "
                'must be one JSON object, e.g. {"text": "...", "label": "..."}.'
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{where}: each line must be a JSON object; got {type(record).__name__}."
            )
        records.append((number, record))
    if not records:
        raise DataError(f"{target}: no records; put one JSON object per line.")
    return records


def _field(target: Path, number: int, record: dict[str, Any], name: str, plan_field: str) -> Any:
    """The record's field `name` (named by the plan's `plan_field`); a label may not be null.

    Raises:
        DataError: the field is missing (or a null label), naming the line and the fields.
    """
    if name not in record or (plan_field == "label" and record[name] is None):
        state = "has no" if name not in record else "has a null"
        raise DataError(
            f"{target} line {number}: the record {state} field {name!r} (data.{plan_field}); "
            f"its fields are {', '.join(repr(k) for k in record) or 'none'}."
        )
    return record[name]


def _check_label_types(labels: list[Any], lines: list[int], where: Path) -> None:
    """Labels must all be text or all numbers; numpy would silently turn 1 into '1'."""
    is_text = [isinstance(v, str) for v in labels]
    if any(is_text) and not all(is_text):
        odd = is_text.index(not is_text[0])
        raise DataError(
            f"{where} line {lines[odd]}: label {labels[odd]!r} is of a different type than "
            f"{labels[0]!r} on line {lines[0]}; make all labels text or all numbers."
        )
    for value, line in zip(labels, lines, strict=True):
        if not isinstance(value, str | int | float):
            raise DataError(
                f"{where} line {line}: a label must be a string or a number; got {value!r}."
            )
