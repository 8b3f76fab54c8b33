"""Strata of scored rows: each split's rows grouped by what they involve, reported as splits of their own.

A stratum of split ``test`` is reported as the split ``test[<stratum>]``: its runs' per-row statistics are the subset
of the split's rows in that stratum, and its metrics are recomputed from them, so the summaries, paired differences,
Holm adjustment and plots of the experiment cover each stratum as they cover a split. The rows are scored once; a
stratum only selects them.

One way to stratify ships: ``edits``, for a target with a built-in fact table that marks facts edited (for example
``smollm2-135m-edited``): a row is ``edited`` when it reads an edited fact, ``gained`` when it reads a fact the edited
model knows and its base did not, and ``other`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from ..realworld.facts import FactTable, fact_table_for
from .row_scores import metric_statistic

logger = logging.getLogger(__name__)

EDITED, GAINED, OTHER = "edited", "gained", "other"


def stratum_split(split: str, stratum: str) -> str:
    """The name a split's stratum is reported under.

    Args:
        split (`str`): The scored split, e.g. ``test``.
        stratum (`str`): The stratum, e.g. ``edited``.

    Returns:
        `str`: ``test[edited]``.
    """
    return f"{split}[{stratum}]"


def edit_stratum(row: dict, table: FactTable) -> str:
    """Whether a row reads an edited fact, a gained one, or neither.

    The facts a row reads are those of its ``relation`` about its ``entity`` and about the subject of every text of
    the row that is one of the table's fact prompts (a patching row's original and counterfactual texts).

    Args:
        row (`dict`): A dataset row with ``relation`` and ``entity`` columns.
        table (`FactTable`): The target's fact table.

    Returns:
        `str`: ``"edited"``, ``"gained"`` or ``"other"``.
    """
    subjects = [row.get("entity") or ""]
    for value in row.values():
        if isinstance(value, str) and (fact := table.fact_for_prompt(value)) is not None:
            subjects.append(fact.subject)
    relation = row.get("relation") or ""
    if table.involves_edit(relation, *subjects):
        return EDITED
    if table.involves_edit(relation, *subjects, count_gained=True):
        return GAINED
    return OTHER


def edit_strata(target: str, rows: Sequence[dict]) -> list[str]:
    """Each row's edit stratum (see :func:`edit_stratum`) under ``target``'s built-in fact table.

    Args:
        target (`str`): The target's short name, e.g. ``smollm2-135m-edited``.
        rows (`Sequence[dict]`): The scored rows.

    Returns:
        `list[str]`: One stratum per row.

    Raises:
        ValueError: When the target has no built-in fact table, or its table marks no fact edited.
    """
    table = fact_table_for(target)
    if table is None or not table.edited_facts:
        raise ValueError(
            f"--strata edits: the target {target!r} has no built-in fact table with edited facts "
            "(e.g. smollm2-135m-edited has one); leave --strata out for this target"
        )
    return [edit_stratum(dict(row), table) for row in rows]


# Ways to stratify a split's rows: name -> (target, rows) -> one stratum per row.
STRATA: dict[str, Callable[[str, Sequence[dict]], list[str]]] = {"edits": edit_strata}


def _metrics_of(per_row: dict, names) -> dict[str, float | None]:
    """The metrics ``names`` recomputed from a subset's per-row statistics (None when not estimable)."""
    columns = per_row["statistics"]
    totals = {name: np.asarray([sum(values)], dtype=float) for name, values in columns.items()}
    metrics = {}
    for name in names:
        statistic = metric_statistic(per_row.get("metric"), name, columns)
        if statistic is None:
            continue
        try:
            value = float(np.asarray(statistic(totals))[0])
        except KeyError:  # rows scored before the metric's statistics existed lack its columns
            continue
        metrics[name] = None if np.isnan(value) else round(value, 4)
    return metrics


def with_strata(result: dict, split: str, stratum_of_index: dict[int, str]) -> dict:
    """A run's result with each stratum of ``split`` added as a split of its own.

    Args:
        result (`dict`): A run's result (``runs/*/result.json``) that kept per-row scores on ``split``.
        split (`str`): The stratified split.
        stratum_of_index (`dict[int, str]`): Each scored row's stratum, by its index in the split.

    Returns:
        `dict`: A copy of ``result`` whose ``splits`` also hold ``<split>[<stratum>]`` (its ``rows``, recomputed
        ``metrics`` and ``per_row`` subset); ``result`` unchanged when it kept no per-row scores on ``split``.
    """
    scored = result["splits"].get(split) or {}
    per_row = scored.get("per_row") or {}
    if not per_row.get("statistics"):
        return result
    splits = dict(result["splits"])
    strata = [stratum_of_index[i] for i in per_row["index"]]
    for stratum in sorted(set(strata)):
        keep = [k for k, s in enumerate(strata) if s == stratum]
        subset = {
            **per_row,
            "index": [per_row["index"][k] for k in keep],
            "group": [per_row["group"][k] for k in keep],
            "statistics": {name: [values[k] for k in keep] for name, values in per_row["statistics"].items()},
        }
        if "prediction" in per_row:
            subset["prediction"] = [per_row["prediction"][k] for k in keep]
        splits[stratum_split(split, stratum)] = {
            "metrics": _metrics_of(subset, scored.get("metrics", {})),
            "details": {},
            "rows": len(keep),
            "per_row": subset,
        }
    return {**result, "splits": splits}


def stratified(
    results: list[dict], splits: Sequence[str], stratum_of_index: dict[str, dict[int, str]]
) -> tuple[list[dict], list[str]]:
    """Every run's result with each split's strata added, and the splits to report (each split, then its strata).

    Args:
        results (`list[dict]`): The runs' results.
        splits (`Sequence[str]`): The scored splits.
        stratum_of_index (`dict[str, dict[int, str]]`): Per split, each scored row's stratum by its index.

    Returns:
        `tuple[list[dict], list[str]]`: The results and the reported splits.
    """
    reported = []
    for split in splits:
        strata = sorted(set(stratum_of_index[split].values()))
        reported += [split, *(stratum_split(split, s) for s in strata)]
        results = [with_strata(r, split, stratum_of_index[split]) for r in results]
        logger.info(
            "%s: %s",
            split,
            ", ".join(f"{s} {sum(v == s for v in stratum_of_index[split].values())} rows" for s in strata),
        )
    return results, reported
