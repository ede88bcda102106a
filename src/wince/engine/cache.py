"""Prediction cache: a model's outputs for inputs it has already seen, in memory and on disk.

A prediction is keyed by the model's fingerprint and a content hash of one input sample
(the sample's bytes with its dtype and shape, or a text's UTF-8), so hits do not depend on
how samples are batched: the baseline seen again by a breaking-point search, a severity-0 or
deterministic scenario repeated over seeds, or a second run of an unchanged plan on an
unchanged model are predicted once. Predictions come back exactly as the model returned
them (same arrays, same dtypes, bit for bit).

Keys are BLAKE2b digests (RFC 7693, in Python's standard library): 128 bits of the
namespace and the sample's bytes. The same input gives the same key under any release of any
package, so a disk cache survives upgrades (a key scheme owned by a third-party package could
change its hash in a release and silently empty the cache); `KEY_SCHEME` names the scheme in
the disk folder, so files keyed by another scheme are never read.

Two tiers:
- memory: least recently used blocks of predictions, bounded in bytes;
- disk: Arrow IPC files, one per flushed unit, under `<directory>/<KEY_SCHEME>-<fingerprint>/`,
  bounded in bytes (the oldest files are deleted first); written atomically (temporary name,
  then rename), so concurrent writers (worker processes, several runs) never see partial files.

The cache assumes the model is a pure function of its input (what the engine's determinism
already requires). The engine keys it by the model's identity together with the versions of
the packages that shape outputs (`wince.engine.environment.cache_identity`), so predictions
made by another model, another state of a callable, another deployment of an endpoint or
under other package versions are never served. Models whose identity is unstable (a callable
whose state cannot be hashed, `CallableAdapter.identity_stable`) use the memory tier only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from wince.models.base import ModelAdapter, Predictions
from wince.outputs import from_arrow, output_bytes, to_arrow

KEY_SCHEME = "blake2b-128"
MEMORY_BYTES = 32 * 2**20
DEDUP_ABOVE_S = 50e-6
DISK_BYTES = 2 * 2**30
# Bookkeeping bytes per cached sample in memory (index entry, key tuple, ints: ~245 measured
# with tracemalloc), counted against the memory bound next to the arrays themselves.
_ENTRY_OVERHEAD_BYTES = 250
_FIELDS = ("labels", "scores", "values", "outputs")
Key = tuple[int, int]


@dataclass
class CacheStats:
    """Counts since the cache was created.

    Attributes:
        requested: samples asked for.
        memory_hits: samples served from memory.
        disk_hits: samples served from disk.
        predicted: samples sent to the model.
        calls: model calls made.
        outcome_hits: perturbed samples whose prediction and distances were reused without
            perturbing them again (see `PredictionCache.outcomes`).
    """

    requested: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    predicted: int = 0
    calls: int = 0
    outcome_hits: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain mapping (for lineage)."""
        return dataclasses.asdict(self)


Fields = dict[str, npt.NDArray[Any]]


@dataclass
class _Block:
    fields: Fields
    keys: list[Key]  # one per row; a unit block has one key for all its rows
    nbytes: int
    unit: bool = False


@dataclass
class _DiskIndex:
    """Keys of the disk files of one fingerprint, sorted by their first half."""

    first: npt.NDArray[np.uint64]
    second: npt.NDArray[np.uint64]
    file: npt.NDArray[np.int32]
    row: npt.NDArray[np.int64]
    paths: list[Path]


def sample_keys(x: Any, namespace: str) -> list[Key]:
    """128-bit content keys of the samples of a batch, one per sample.

    Args:
        x: a batch: an array (first axis: samples) or a list of str.
        namespace: mixed into every key (model fingerprint and task), so the same input
            under another model has another key.
    """
    if isinstance(x, list):
        prefix = _prefix(f"{namespace}|text")
        return [_key(prefix, text.encode("utf-8", "surrogatepass")) for text in x]
    array = np.ascontiguousarray(x)
    if array.dtype.hasobject:
        raise TypeError("object arrays have no content bytes to hash")
    prefix = _prefix(f"{namespace}|{array.dtype.str}|{array.shape[1:]}")
    n = len(array)
    size = array.itemsize * (array.size // n if n else 0)
    data = array.reshape(-1).view(np.uint8).data
    return [_key(prefix, data[i * size : (i + 1) * size]) for i in range(n)]


def _prefix(namespace: str) -> Any:
    """A BLAKE2b state that has absorbed `namespace`, copied for each sample."""
    return hashlib.blake2b(namespace.encode("utf-8", "surrogatepass") + b"\0", digest_size=16)


def _key(prefix: Any, data: bytes | memoryview) -> Key:
    state = prefix.copy()
    state.update(data)
    digest = state.digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


def _id_hash(sample_id: object) -> int:
    """64-bit hash of a sample id (the third column of `clean_keys`)."""
    data = str(sample_id).encode("utf-8", "surrogatepass")
    return int.from_bytes(
        hashlib.blake2b(data, digest_size=8, person=b"sample-id").digest(), "little"
    )


def persistable(model: ModelAdapter) -> bool:
    """Whether the model's fingerprint covers its state, so its predictions may go to disk."""
    return bool(getattr(model, "identity_stable", True))


class PredictionCache:
    """Predictions already made, reused whatever the batching, run or process.

    Args:
        directory: folder of the disk tier (created on first write); None keeps the cache in
            memory only.
        memory_bytes: bound of the memory tier in bytes (arrays plus ~250 bytes per sample).
        disk_bytes: bound of the disk tier in bytes, over every model's files.
        dedup_above_s: model time per sample (s) above which the engine looks perturbed
            inputs up sample by sample (see `dedup_pays`).

    Examples:
        >>> import numpy as np
        >>> from wince.models import CallableAdapter
        >>> calls = []
        >>> model = CallableAdapter(lambda b: calls.append(len(b)) or (b[:, 0] > 0).astype(int))
        >>> cache = PredictionCache()
        >>> x = np.array([[1.0], [-1.0], [1.0]])
        >>> cache.predict(model, x).labels.tolist(), cache.predict(model, x[::-1]).labels.tolist()
        ([1, 0, 1], [1, 0, 1])
        >>> calls  # the repeated sample and the second batch came from the cache
        [2]
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        memory_bytes: int = MEMORY_BYTES,
        disk_bytes: int = DISK_BYTES,
        dedup_above_s: float = DEDUP_ABOVE_S,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self.dedup_above_s = dedup_above_s
        self.stats = CacheStats()
        self._reset()

    def _reset(self) -> None:
        self._index: dict[Key, tuple[int, int]] = {}
        self._units: dict[Key, int] = {}
        self._unit_files: dict[str, dict[Key, Path]] = {}
        self._model_seconds: dict[int, tuple[float, int]] = {}
        self._blocks: OrderedDict[int, _Block] = OrderedDict()
        self._next_block = 0
        self._memory_used = 0
        self._disk: dict[str, _DiskIndex] = {}
        self._pending: dict[str, list[_Block]] = {}
        self._fingerprints: dict[int, tuple[str, bool]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Sent to worker processes: settings only; each worker fills its own memory tier and
        # shares the disk tier.
        return {
            "directory": self.directory,
            "memory_bytes": self.memory_bytes,
            "disk_bytes": self.disk_bytes,
            "dedup_above_s": self.dedup_above_s,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.directory = state["directory"]
        self.memory_bytes = state["memory_bytes"]
        self.disk_bytes = state["disk_bytes"]
        self.dedup_above_s = state["dedup_above_s"]
        self.stats = CacheStats()
        self._reset()

    def __repr__(self) -> str:
        return f"PredictionCache({str(self.directory) if self.directory else None!r})"

    @property
    def memory_used(self) -> int:
        """Bytes held by the memory tier (arrays plus per-sample bookkeeping)."""
        return self._memory_used

    def predict(
        self, model: ModelAdapter, x: Any, *, fingerprint: str | None = None
    ) -> Predictions:
        """The model's predictions for a batch, predicting only samples not seen before.

        Identical samples inside the batch are predicted once. When every sample is new, the
        model gets the batch as it is; otherwise it gets the new samples only.

        Args:
            model: the model adapter.
            x: a batch (array, first axis samples, or list of str).
            fingerprint: the model's fingerprint, when already known (hashing a model can be
                slow; the cache asks the model once per adapter otherwise).
        """
        n = len(x)
        if n == 0:
            return self._call(model, x)
        fingerprint, persist = self._identity(model, fingerprint)
        try:
            keys = sample_keys(x, f"{fingerprint}|{model.task}")
        except TypeError:  # no content to hash (object arrays): not cached
            return self._call(model, x)
        self.stats.requested += n
        found, missing = self._find(keys, fingerprint, persist)
        if not missing:
            result = _as_predictions(self._gather(found, n))
        else:
            first: dict[Key, int] = {}
            for i in missing:
                first.setdefault(keys[i], i)
            whole = len(first) == n  # all new and distinct: the model sees the batch as is
            new = self._call(model, x if whole else _take(x, list(first.values())))
            block_id = self._remember(list(first), _as_fields(new), fingerprint, persist)
            if whole:
                result = new
            else:
                rows = {key: row for row, key in enumerate(first)}
                result = _as_predictions(
                    self._gather(
                        [
                            f if f is not None else (block_id, rows[keys[i]])
                            for i, f in enumerate(found)
                        ],
                        n,
                    )
                )
        self._evict_memory()
        return result

    def clean_keys(
        self, model: ModelAdapter, x: Any, ids: Sequence[str], *, fingerprint: str | None = None
    ) -> npt.NDArray[np.uint64] | None:
        """Content and id hashes of clean samples, (n, 3), for `outcome_keys`.

        None when the batch has no content to hash (object arrays).
        """
        fingerprint, _ = self._identity(model, fingerprint)
        try:
            content = sample_keys(x, f"{fingerprint}|{model.task}|clean")
        except TypeError:
            return None
        rows = np.empty((len(content), 3), dtype=np.uint64)
        rows[:, :2] = np.array(content, dtype=np.uint64).reshape(-1, 2)
        rows[:, 2] = [_id_hash(i) for i in ids]
        return rows

    def outcome_key(self, clean: npt.NDArray[np.uint64], recipe: str) -> Key:
        """Key of the outcomes of a batch of clean samples (`clean_keys`) under one recipe.

        A perturbed input is a function of the clean input, the sample id (its random
        stream), the steps with their versions and parameters, the run seed, the trial and
        the data context: `recipe` must name all but the first two. One key per batch and
        trial: a unit's trials are stored and found whole (as a rerun, a resumed run or
        `verify` asks for them), at the cost of a hash per trial rather than per sample.
        """
        return sample_keys(clean.reshape(1, -1), f"outcome|{recipe}")[0]

    def outcomes(
        self, model: ModelAdapter, key: Key, *, fingerprint: str | None = None
    ) -> tuple[Predictions, Fields] | None:
        """Predictions and distances stored under `key` (see `outcome_key`), or None."""
        fingerprint, persist = self._identity(model, fingerprint)
        block_id = self._units.get(key)
        if block_id is None and persist and self.directory is not None:
            path = self._unit_index(fingerprint).get(key)
            if path is not None:
                self._load_units(path)
                block_id = self._units.get(key)
        if block_id is None:
            return None
        self._blocks.move_to_end(block_id)
        fields = self._blocks[block_id].fields
        self.stats.outcome_hits += len(next(iter(fields.values())))
        distances = {name[2:]: v for name, v in fields.items() if name.startswith("d:")}
        return _as_predictions(fields), distances

    def remember_outcomes(
        self,
        model: ModelAdapter,
        key: Key,
        predictions: Predictions,
        distances: Fields,
        *,
        fingerprint: str | None = None,
    ) -> None:
        """Store the predictions and distances of a batch under one trial (`outcome_key`)."""
        fingerprint, persist = self._identity(model, fingerprint)
        fields = _as_fields(predictions)
        fields.update({f"d:{name}": value for name, value in distances.items()})
        block_id = self._insert(fields, [key], unit=True)
        if persist and self.directory is not None:
            self._pending.setdefault(fingerprint, []).append(self._blocks[block_id])
        self._evict_memory()

    def call(self, model: ModelAdapter, x: Any) -> Predictions:
        """The model's predictions for a batch, without the cache (counted and timed)."""
        return self._call(model, x)

    def dedup_pays(self, model: ModelAdapter) -> bool:
        """Whether hashing each sample costs little next to predicting it.

        Per-sample keys cost about 1-2 us a sample (hash, look-up, bookkeeping); perturbed
        inputs rarely repeat inside a run (the plan already gives deterministic scenarios one
        trial), so they are looked up sample by sample only for models slower than
        50 us a sample, where a few percent of repeats pays for the hashing.
        """
        seconds, samples = self._model_seconds.get(id(model), (0.0, 0))
        return samples > 0 and seconds / samples > self.dedup_above_s

    def flush(self, *, min_bytes: int = 0) -> None:
        """Write predictions made since the last flush to the disk tier (one file per model).

        Args:
            min_bytes: write only once at least this many bytes of predictions are pending
                (callers that predict in many small steps flush with a threshold, then once
                without).
        """
        if self.directory is None:
            self._pending.clear()
            return
        pending = sum(block.nbytes for blocks in self._pending.values() for block in blocks)
        if pending == 0 or pending < min_bytes:
            return
        for fingerprint, blocks in self._pending.items():
            if blocks:
                self._write(fingerprint, blocks)
        self._pending.clear()

    def clear_memory(self) -> None:
        """Drop the memory tier (the disk tier stays)."""
        self._index.clear()
        self._units.clear()
        self._blocks.clear()
        self._memory_used = 0

    # -- internals -------------------------------------------------------------------------

    def _identity(self, model: ModelAdapter, fingerprint: str | None) -> tuple[str, bool]:
        known = self._fingerprints.get(id(model))
        if known is None or (fingerprint is not None and known[0] != fingerprint):
            known = (fingerprint or model.fingerprint(), persistable(model))
            self._fingerprints[id(model)] = known
        return known

    def _call(self, model: ModelAdapter, x: Any) -> Predictions:
        self.stats.calls += 1
        self.stats.predicted += len(x)
        started = time.perf_counter()
        predictions = model.predict(x)
        seconds, samples = self._model_seconds.get(id(model), (0.0, 0))
        self._model_seconds[id(model)] = (
            seconds + time.perf_counter() - started,
            samples + len(x),
        )
        return predictions

    def _find(
        self, keys: list[Key], fingerprint: str, persist: bool, *, count: bool = True
    ) -> tuple[list[tuple[int, int] | None], list[int]]:
        """(block, row) of each key (None when unknown) after a look on disk, and the misses."""
        found = [self._index.get(k) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        if count:
            self.stats.memory_hits += len(keys) - len(missing)
        if missing and persist and self.directory is not None:
            loaded = self._from_disk(fingerprint, [keys[i] for i in missing])
            if loaded:
                if count:
                    self.stats.disk_hits += loaded
                found = [self._index.get(k) for k in keys]
                missing = [i for i, f in enumerate(found) if f is None]
        return found, missing

    def _remember(self, keys: list[Key], fields: Fields, fingerprint: str, persist: bool) -> int:
        block_id = self._insert(fields, keys)
        if persist and self.directory is not None:
            self._pending.setdefault(fingerprint, []).append(self._blocks[block_id])
        return block_id

    def _insert(self, fields: Fields, keys: list[Key], *, unit: bool = False) -> int:
        nbytes = sum(output_bytes(v) for v in fields.values()) + _ENTRY_OVERHEAD_BYTES * len(keys)
        block_id = self._next_block
        self._next_block += 1
        self._blocks[block_id] = _Block(fields, keys, nbytes, unit)
        self._memory_used += nbytes
        if unit:
            self._units[keys[0]] = block_id
        else:
            for row, key in enumerate(keys):
                self._index[key] = (block_id, row)
        return block_id

    def _evict_memory(self) -> None:
        """Drop the least recently used blocks until the memory tier fits its bound."""
        while self._memory_used > self.memory_bytes and len(self._blocks) > 1:
            old_id, old = self._blocks.popitem(last=False)
            self._memory_used -= old.nbytes
            if old.unit:
                if self._units.get(old.keys[0]) == old_id:
                    del self._units[old.keys[0]]
                continue
            for key in old.keys:
                if self._index.get(key, (-1, 0))[0] == old_id:
                    del self._index[key]

    def _gather(self, found: Sequence[tuple[int, int] | None], n: int) -> Fields:
        """The fields of the (block, row) pairs in `found`, in order."""
        blocks = np.fromiter((f[0] for f in found if f is not None), np.int64, n)
        rows = np.fromiter((f[1] for f in found if f is not None), np.int64, n)
        ids = np.unique(blocks).tolist()
        for block_id in ids:
            self._blocks.move_to_end(block_id)
        source = self._blocks[ids[0]].fields
        if len(ids) == 1:
            if len(next(iter(source.values()))) == n and (rows == np.arange(n)).all():
                return dict(source)
            return {name: value[rows] for name, value in source.items()}
        out: Fields = {}
        for name, sample in source.items():
            target = np.empty((n, *sample.shape[1:]), dtype=sample.dtype)
            for block_id in ids:
                where = np.flatnonzero(blocks == block_id)
                target[where] = self._blocks[block_id].fields[name][rows[where]]
            out[name] = target
        return out

    # -- disk tier -------------------------------------------------------------------------

    def _folder(self, fingerprint: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{KEY_SCHEME}-{fingerprint}"

    def _disk_index(self, fingerprint: str) -> _DiskIndex:
        index = self._disk.get(fingerprint)
        if index is not None:
            return index
        firsts: list[npt.NDArray[np.uint64]] = []
        seconds: list[npt.NDArray[np.uint64]] = []
        files: list[npt.NDArray[np.int32]] = []
        rows: list[npt.NDArray[np.int64]] = []
        paths: list[Path] = []
        folder = self._folder(fingerprint)
        if folder.is_dir():
            for path in sorted(folder.glob("*.rows.arrow")):
                try:
                    with pa.memory_map(str(path)) as source:
                        table = pa.ipc.open_file(source).read_all()
                except (OSError, pa.ArrowInvalid):
                    continue  # deleted by eviction meanwhile, or not an Arrow file
                number = len(paths)
                paths.append(path)
                firsts.append(table.column("key_1").to_numpy())
                seconds.append(table.column("key_2").to_numpy())
                files.append(np.full(table.num_rows, number, np.int32))
                rows.append(np.arange(table.num_rows, dtype=np.int64))
        if paths:
            first = np.concatenate(firsts)
            order = np.argsort(first, kind="stable")
            index = _DiskIndex(
                first[order],
                np.concatenate(seconds)[order],
                np.concatenate(files)[order],
                np.concatenate(rows)[order],
                paths,
            )
        else:
            empty = np.empty(0, np.uint64)
            index = _DiskIndex(empty, empty, np.empty(0, np.int32), np.empty(0, np.int64), [])
        self._disk[fingerprint] = index
        return index

    def _from_disk(self, fingerprint: str, keys: list[Key]) -> int:
        """Load the predictions of `keys` found on disk into memory; returns how many."""
        index = self._disk_index(fingerprint)
        if not len(index.first):
            return 0
        wanted = np.array(keys, dtype=np.uint64).reshape(-1, 2)
        at = np.searchsorted(index.first, wanted[:, 0])
        at = np.minimum(at, len(index.first) - 1)
        hit = (index.first[at] == wanted[:, 0]) & (index.second[at] == wanted[:, 1])
        if not hit.any():
            return 0
        loaded = 0
        hits = np.flatnonzero(hit)
        files = index.file[at[hits]]
        for number in np.unique(files).tolist():
            table = self._table(index, number)
            if table is None:
                continue
            # the whole file at once: the other trials of its unit are asked for next
            file_keys = list(
                zip(
                    table.column("key_1").to_numpy().tolist(),
                    table.column("key_2").to_numpy().tolist(),
                    strict=True,
                )
            )
            self._insert(_fields(table), file_keys)
            loaded += int((files == number).sum())
        return loaded

    def _table(self, index: _DiskIndex, number: int) -> pa.Table | None:
        path = index.paths[number]
        try:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            os.utime(path)  # recently used: evicted last
        except (OSError, pa.ArrowInvalid):
            return None  # evicted meanwhile
        return table

    def _write(self, fingerprint: str, blocks: list[_Block]) -> None:
        folder = self._folder(fingerprint)
        folder.mkdir(parents=True, exist_ok=True)
        groups: dict[tuple[bool, tuple[str, ...]], list[_Block]] = {}
        for block in blocks:
            groups.setdefault((block.unit, tuple(block.fields)), []).append(block)
        for (unit, names), group in groups.items():
            keys = np.array(
                [
                    k
                    for block in group
                    for k in (block.keys * _rows(block) if block.unit else block.keys)
                ],
                dtype=np.uint64,
            )
            columns: dict[str, Any] = {"key_1": keys[:, 0], "key_2": keys[:, 1]}
            for name in names:
                stacked = np.concatenate([block.fields[name] for block in group])
                if stacked.ndim == 2 or stacked.dtype == object:
                    columns[name] = to_arrow(stacked)
                else:
                    columns[name] = pa.array(stacked)
            table = pa.table(columns)
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            temporary = folder / f"{name}.tmp"
            with (
                pa.OSFile(str(temporary), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
            temporary.replace(folder / f"{name}.{'units' if unit else 'rows'}.arrow")
        self._evict_disk()

    def _unit_index(self, fingerprint: str) -> dict[Key, Path]:
        """The unit files of a fingerprint by the keys they hold (read once per cache)."""
        index = self._unit_files.get(fingerprint)
        if index is None:
            index = {}
            for path in sorted(self._folder(fingerprint).glob("*.units.arrow")):
                try:
                    with pa.memory_map(str(path)) as source:
                        reader = pa.ipc.open_file(source)
                        table = reader.read_all().select(["key_1", "key_2"])
                except (OSError, pa.ArrowInvalid):
                    continue
                pairs = np.stack(
                    [table.column("key_1").to_numpy(), table.column("key_2").to_numpy()], axis=1
                )
                for first, second in np.unique(pairs, axis=0).tolist():
                    index[(first, second)] = path
            self._unit_files[fingerprint] = index
        return index

    def _load_units(self, path: Path) -> None:
        """Every unit block of a file into memory (the other trials of its unit come next)."""
        try:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            os.utime(path)  # recently used: evicted last
        except (OSError, pa.ArrowInvalid):
            return  # evicted meanwhile
        first = table.column("key_1").to_numpy()
        second = table.column("key_2").to_numpy()
        fields = _fields(table)
        starts = np.flatnonzero(
            np.concatenate([[True], (first[1:] != first[:-1]) | (second[1:] != second[:-1])])
        ).tolist()
        for start, stop in zip(starts, [*starts[1:], len(first)], strict=True):
            key = (int(first[start]), int(second[start]))
            self._insert({n: v[start:stop] for n, v in fields.items()}, [key], unit=True)

    def _evict_disk(self) -> None:
        """Delete the least recently used files until the disk tier fits its bound."""
        assert self.directory is not None
        files = []
        total = 0
        for path in self.directory.glob("*/*.arrow"):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, path))
            total += stat.st_size
        if total <= self.disk_bytes:
            return
        for _, size, path in sorted(files):
            path.unlink(missing_ok=True)
            total -= size
            if total <= self.disk_bytes:
                break


def _rows(block: _Block) -> int:
    return len(next(iter(block.fields.values())))


def _fields(table: pa.Table) -> Fields:
    values: Fields = {}
    for name in table.column_names:
        if name in ("key_1", "key_2"):
            continue
        column = table.column(name).combine_chunks()
        if pa.types.is_primitive(column.type):
            values[name] = column.to_numpy(zero_copy_only=False)
        else:
            values[name] = from_arrow(column)
    return values


def _as_fields(predictions: Predictions) -> Fields:
    return {
        name: getattr(predictions, name)
        for name in _FIELDS
        if getattr(predictions, name) is not None
    }


def _as_predictions(fields: Fields) -> Predictions:
    return Predictions(**{name: fields.get(name) for name in _FIELDS})


def _take(x: Any, positions: list[int]) -> Any:
    if isinstance(x, list):
        return [x[i] for i in positions]
    return np.asarray(x)[positions]


def cache_for(
    setting: bool | str | Path | PredictionCache | None, store: Any
) -> PredictionCache | None:
    """The cache a run uses: off (False/None), given, a folder, or next to the store (True).

    True puts the disk tier in `<store root>/cache`.
    """
    if setting is None or setting is False:
        return None
    if isinstance(setting, PredictionCache):
        return setting
    if setting is True:
        root = getattr(store, "root", None)
        return PredictionCache(Path(root) / "cache" if root is not None else None)
    return PredictionCache(setting)
