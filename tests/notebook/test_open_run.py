"""`wince.open`: a stored run by store folder and id, prefix or "latest"."""

from __future__ import annotations

import pytest
from notebook_support import NotebookRun

import wince
from wince.errors import StoreError


def test_open_returns_the_latest_run_of_a_store_folder(notebook_run: NotebookRun) -> None:
    opened = wince.open(notebook_run.folder)
    assert opened.id == notebook_run.run.id
    assert opened.record["name"] == notebook_run.run.record["name"]


def test_open_finds_a_run_by_id_prefix_and_takes_a_store_object(
    notebook_run: NotebookRun,
) -> None:
    prefix = notebook_run.run.id[:6]
    assert wince.open(str(notebook_run.folder), prefix).id == notebook_run.run.id
    assert wince.open(notebook_run.run.store, "latest").id == notebook_run.run.id


def test_open_defaults_to_the_wince_store_variable(
    notebook_run: NotebookRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINCE_STORE", str(notebook_run.folder))
    assert wince.open().id == notebook_run.run.id


def test_an_unknown_run_is_a_store_error_naming_it(notebook_run: NotebookRun) -> None:
    with pytest.raises(StoreError, match=r"no run 'zzzz' in the store at .*See `wince runs`"):
        wince.open(notebook_run.folder, "zzzz")


def test_a_missing_store_folder_is_an_error_and_is_not_created(tmp_path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(StoreError, match=r"store folder .*nowhere does not exist.*--store"):
        wince.open(missing)
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match=r"empty holds no wince store"):
        wince.open(empty)
