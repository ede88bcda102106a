"""Queries over the outcomes of many runs, run by DuckDB straight from the Parquet segments.

DuckDB reads only the columns a query needs, streams the segments (local files natively,
other fsspec locations through the registered filesystem) and spills to disk past its memory
limit, so a query over tens of millions of outcomes never loads them into pandas: only the
result comes back as a frame.

Intervals of `aggregate`, both computed in SQL:

- `normal` (default): a normal (Wald) interval with a *cluster-robust* standard error, the
  clusters being samples (run, sample_index). A sample's trials of one scenario are
  correlated (same input, same model), so treating every outcome as independent would
  understate the uncertainty; the clustered variance of the ratio mean `sum(x) / n` is
  `k / (k - 1) * sum_i (s_i - mean * m_i)^2 / n^2` over the k clusters with sums `s_i` of
  `m_i` outcomes (the sandwich estimator; with one outcome per sample it is the usual
  `s^2 / n` up to the factor k / (k - 1)). Right for any numeric metric.
- `wilson`: the Wilson score interval of a proportion, treating outcomes as independent
  Bernoulli draws; for 0/1 metrics (`flipped`, `correct`) with one trial per sample, or
  where trials are known to be independent. Refused for values other than 0 and 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
from scipy import stats

from wince.errors import ParameterError, StoreError

if TYPE_CHECKING:
    from wince.store.store import Store

# Plan metrics that are the mean of one outcome column.
MEAN_METRICS = {
    "accuracy": "correct",
    "flip_rate": "flipped",
    "confidence_change": "confidence_delta",
    "true_class_prob_change": "true_prob_delta",
    "mae": "abs_error",
}
INTERVALS = ("normal", "wilson")
AGGREGATE_COLUMNS = ("n", "n_clusters", "mean", "low", "high")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def aggregate(
    store: Store,
    runs: str | Sequence[str],
    metric: str,
    *,
    by: str | Sequence[str] = "scenario",
    interval: str = "normal",
    level: float = 0.95,
    where: str | None = None,
) -> pd.DataFrame:
    """Mean of an outcome metric over the outcomes of many runs, by group, with intervals.

    Args:
        store: the store holding the runs.
        runs: run ids, unique id prefixes or `latest`.
        metric: a plan metric that is a mean of one outcome column (see `MEAN_METRICS`) or a
            numeric or boolean outcome column.
        by: grouping columns: outcome columns and `run_id` (the run's id); `[]` for one row.
        interval: `normal` (cluster-robust over samples) or `wilson` (0/1 metrics); see the
            module docstring.
        level: confidence level of the interval, in (0, 1).
        where: optional SQL condition on outcome columns (DuckDB dialect), e.g.
            `"scenario != 'baseline'"`.

    Returns:
        One row per group: the `by` columns, `n` (outcomes with a value), `n_clusters`
        (samples), `mean`, `low`, `high`; sorted by the `by` columns.

    Raises:
        ParameterError: unknown metric, grouping column or interval; a level outside (0, 1);
            a Wilson interval for values other than 0 and 1.
        StoreError: unknown runs, or runs without stored outcomes.

    Examples:
        >>> import tempfile, wince, numpy as np
        >>> from wince.models import CallableAdapter
        >>> store = wince.open_store(tempfile.mkdtemp())
        >>> x = np.random.default_rng(0).normal(size=(50, 2))
        >>> model = CallableAdapter(lambda x: np.stack([x[:, 0], -x[:, 0]], 1), fingerprint="m")
        >>> plan = {"name": "doc", "repeats": 2,
        ...         "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}]}
        >>> run = wince.run(model, (x, (x[:, 0] < 0).astype(int)), plan, store=store)
        >>> table = store.aggregate([run.id], "flip_rate", where="scenario != 'baseline'")
        >>> list(table.columns)
        ['scenario', 'n', 'n_clusters', 'mean', 'low', 'high']
        >>> int(table["n"].iloc[0]), int(table["n_clusters"].iloc[0])
        (100, 50)
    """
    if interval not in INTERVALS:
        raise ParameterError(
            f"aggregate: interval must be one of {', '.join(INTERVALS)}; got {interval!r}."
        )
    if not 0.0 < level < 1.0:
        raise ParameterError(f"aggregate: level must be in (0, 1), e.g. 0.95; got {level!r}.")
    groups = [by] if isinstance(by, str) else list(by)
    ids = [store.resolve(ref) for ref in ([runs] if isinstance(runs, str) else runs)]
    if not ids:
        raise StoreError("aggregate: no runs given.")
    paths = {run_id: store.checked_segment_paths(run_id) for run_id in ids}
    column = MEAN_METRICS.get(metric, metric)
    with store.connect() as conn:
        available = _columns(conn, paths[ids[0]][0])
        _check(metric, column, groups, available)
        z = float(stats.norm.ppf(0.5 + level / 2))
        refused = {run_id: store.rejected_condition(run_id) for run_id in ids}
        sql, parameters = _query(ids, paths, column, groups, interval, where, refused)
        if "scenario" in groups:
            conn.register("wince_scenarios", _scenario_names(store, ids))
        try:
            frame = conn.execute(sql, [*parameters, z]).df()
        except duckdb.Error as error:
            for run_id in ids:  # a damaged data page passes the footer check
                store.check_segments(run_id, full=True)
            raise StoreError(f"aggregate of {metric!r} failed in DuckDB: {error}") from None
    if len(frame) and "scenario" in groups and frame["scenario"].isna().any():
        raise StoreError(
            "aggregate: outcomes at scenario positions the catalog does not list; the store is "
            "inconsistent. Check the runs with `wince verify`."
        )
    if interval == "wilson" and len(frame) and int(frame["_not_binary"].sum()) > 0:
        raise ParameterError(
            f"aggregate: the Wilson interval is for 0/1 metrics; {metric!r} has other values. "
            "Use interval='normal'."
        )
    return frame.drop(columns="_not_binary").reset_index(drop=True)


def _scenario_names(store: Store, ids: list[str]) -> pd.DataFrame:
    frames = [
        store.scenarios(run_id)[["position", "scenario"]].assign(run_id=run_id) for run_id in ids
    ]
    frame = pd.concat(frames, ignore_index=True)
    return frame.astype({"position": "int32", "scenario": "string", "run_id": "string"})


def _columns(conn: duckdb.DuckDBPyConnection, path: str) -> dict[str, str]:
    rows = conn.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    return {str(name): str(kind) for name, kind, *_ in rows}


def _check(metric: str, column: str, groups: list[str], available: dict[str, str]) -> None:
    numeric = [
        name
        for name, kind in available.items()
        if kind in ("BOOLEAN", "FLOAT", "DOUBLE", "INTEGER", "BIGINT", "SMALLINT", "TINYINT")
    ]
    if column not in available or column not in numeric:
        raise ParameterError(
            f"aggregate: {metric!r} is not a mean metric or numeric outcome column of these "
            f"runs; use one of {', '.join(m for m in MEAN_METRICS if MEAN_METRICS[m] in numeric)}"
            f" or the columns {', '.join(numeric)}."
        )
    for group in groups:
        if group != "run_id" and group not in available:
            raise ParameterError(
                f"aggregate: cannot group by {group!r}; use run_id or outcome columns: "
                f"{', '.join(available)}."
            )
    for name in [column, *groups]:
        if not _IDENTIFIER.match(name):
            raise ParameterError(f"aggregate: {name!r} is not a plain column name.")


def _query(
    ids: list[str],
    paths: dict[str, list[str]],
    column: str,
    groups: list[str],
    interval: str,
    where: str | None,
    refused: dict[str, str | None] | None = None,
) -> tuple[str, list[object]]:
    """The SQL of an aggregate and its parameters (the z quantile is appended last).

    `refused` holds, per run, the condition leaving out the scenarios its model refused
    (`Store.rejected_condition`).

    Each run is reduced on its own to one row per (group, sample) — the clusters — keyed by
    integers: `position` stands for `scenario` (one to one within a run, as the catalog
    records), which hashes several times faster than the scenario text. The scenario names
    come back from the table `wince_scenarios` (run_id, position, scenario) joined to the
    per-run totals, which are small.
    """
    inner = [g for g in groups if g != "run_id"]
    keys_in_run = ["position" if g == "scenario" else g for g in inner]
    keys_in_run = list(dict.fromkeys(keys_in_run))
    branches, parameters = _per_run_branches(
        ids, paths, column, inner, keys_in_run, interval, where, refused or {}
    )
    z = f"${len(parameters) + 1}"
    named = (
        "SELECT r.*, n.scenario FROM per_run AS r "
        "LEFT JOIN wince_scenarios AS n USING (run_id, position)"
        if "scenario" in groups
        else "SELECT * FROM per_run"
    )
    union = " UNION ALL ".join(branches)
    if interval == "normal":
        return _clustered_normal_sql(union, named, groups, keys_in_run, z), parameters
    return _wilson_sql(union, named, groups, z), parameters


def _per_run_branches(
    ids: list[str],
    paths: dict[str, list[str]],
    column: str,
    inner: list[str],
    keys_in_run: list[str],
    interval: str,
    where: str | None,
    refused: dict[str, str | None],
) -> tuple[list[str], list[object]]:
    """One SELECT per run reducing its outcome files, and their parameters (the file lists).

    For the normal interval a run is reduced to one row per cluster (`keys_in_run` and
    sample), with the sum and count of `column`; for Wilson to one row per group, with the
    count, sum, distinct samples and values other than 0 and 1.

    Raises:
        StoreError: a run id that is not one the store makes.
    """
    cluster_keys = [*keys_in_run, "sample_index"]
    read = ", ".join(f'"{c}"' for c in dict.fromkeys([*cluster_keys, *inner]) if c != "scenario")
    condition = f" AND ({where})" if where else ""
    listed = ", ".join(f'"{c}"' for c in cluster_keys)
    group_by = ", ".join(f'"{c}"' for c in keys_in_run)
    branches = []
    parameters: list[object] = []
    for run_id in ids:
        if not _RUN_ID.match(run_id):
            raise StoreError(f"aggregate: unexpected run id {run_id!r}.")
        parameters.append(paths[run_id])
        skip = refused.get(run_id)
        source = (
            f'SELECT {read}, CAST("{column}" AS DOUBLE) AS x '
            f'FROM read_parquet(${len(parameters)}) WHERE "{column}" IS NOT NULL{condition}'
            + (f" AND {skip}" if skip else "")
        )
        if interval == "normal":
            branches.append(
                f"SELECT '{run_id}' AS run_id, {listed}, sum(x) AS s, count(x) AS m "
                f"FROM ({source}) GROUP BY {listed}"
            )
        else:
            by_run = f" GROUP BY {group_by}" if group_by else ""
            branches.append(
                f"SELECT '{run_id}' AS run_id, {group_by + ', ' if group_by else ''}"
                "count(x) AS n, sum(x) AS s, count(DISTINCT sample_index) AS k, "
                f"count(*) FILTER (WHERE x NOT IN (0, 1)) AS not_binary FROM ({source}){by_run}"
            )
    return branches, parameters


def _group_clauses(groups: list[str]) -> tuple[str, str, str]:
    """The group keys followed by a comma, the GROUP BY and the ORDER BY ("" without groups)."""
    keys = ", ".join(f'"{g}"' for g in groups)
    if not groups:
        return "", "", ""
    return f"{keys}, ", f" GROUP BY {keys}", f" ORDER BY {keys}"


def _clustered_normal_sql(
    union: str, named: str, groups: list[str], keys_in_run: list[str], z: str
) -> str:
    """The SQL of the mean with a cluster-robust normal interval (clusters: samples)."""
    keys_comma, group_totals, order = _group_clauses(groups)
    per_run_keys = ", ".join(["run_id", *(f'"{c}"' for c in keys_in_run)])
    return f"""
WITH clusters AS ({union}),
per_run AS (
    SELECT {per_run_keys}, sum(m) AS n, count(*) AS k,
        sum(s) AS s, sum(s * s) AS ss, sum(s * m) AS sm, sum(m * m) AS mm
    FROM clusters GROUP BY {per_run_keys}
),
named AS ({named}),
totals AS (
    SELECT {keys_comma}sum(n) AS n, sum(k) AS k, sum(s) / sum(n) AS mean,
        sum(ss) AS ss, sum(sm) AS sm, sum(mm) AS mm
    FROM named{group_totals}
),
errors AS (
    SELECT *, CASE WHEN k > 1 THEN
        sqrt(greatest(k / (k - 1.0) * (ss - 2 * mean * sm + mean * mean * mm), 0)) / n
        END AS se
    FROM totals
)
SELECT {keys_comma}n, k AS n_clusters, mean,
    mean - {z} * se AS low, mean + {z} * se AS high, 0 AS _not_binary
FROM errors{order}
"""


def _wilson_sql(union: str, named: str, groups: list[str], z: str) -> str:
    """The SQL of a rate with its Wilson interval, counting values other than 0 and 1."""
    keys_comma, group_totals, order = _group_clauses(groups)
    return f"""
WITH per_run AS ({union}),
named AS ({named}),
totals AS (
    SELECT {keys_comma}sum(n) AS n, sum(k) AS n_clusters, sum(s) / sum(n) AS mean,
        sum(not_binary) AS _not_binary
    FROM named{group_totals}
)
SELECT {keys_comma}n, n_clusters, mean,
    (mean + {z} * {z} / (2 * n) - {z} * sqrt(mean * (1 - mean) / n + {z} * {z} / (4 * n * n)))
        / (1 + {z} * {z} / n) AS low,
    (mean + {z} * {z} / (2 * n) + {z} * sqrt(mean * (1 - mean) / n + {z} * {z} / (4 * n * n)))
        / (1 + {z} * {z} / n) AS high,
    _not_binary
FROM totals{order}
"""
