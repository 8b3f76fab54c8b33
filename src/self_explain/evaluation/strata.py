"""Strata of scored rows: a split's rows grouped by what they involve, reported as splits ``<split>[<stratum>]``.

A stratum only selects already-scored rows, whose metrics are recomputed from them. The ``edits`` strata (a target
whose built-in fact table marks edited facts): ``edited``, ``gained`` (known by the edited model, not its base) and
``other``.
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
    """The name a split's stratum is reported under: ``test[edited]``."""
    return f"{split}[{stratum}]"


def edit_stratum(row: dict, table: FactTable) -> str:
    """``"edited"``, ``"gained"`` or ``"other"``: what the facts a row reads are in the table.

    A row reads its ``relation`` about its ``entity`` and about the subject of each of its texts that is a fact prompt.
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
    """Each row's edit stratum under ``target``'s fact table; ValueError without a table or an edited fact."""
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
    """A copy of a run's result with each stratum of ``split`` added as a split; unchanged without per-row scores."""
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
    """Every run's result with each split's strata added, and the splits to report (each split, then its strata)."""
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
