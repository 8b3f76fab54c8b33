"""Per-row statistics of ``description_similarity`` and its metrics recomputed from their totals."""

from __future__ import annotations

from ..row_statistics import ratio


def description_similarity_rows(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """Per-row statistics of ``description_similarity``: ``rows`` (1), ``similarity`` (the cosine), ``exact`` (0/1)."""
    from ...core.embeddings import paired_similarity
    from .description_similarity import normalize_description

    similarities = paired_similarity(predictions, references).tolist()
    exact = [float(normalize_description(p) == normalize_description(r)) for p, r in zip(predictions, references)]
    return {"rows": [1.0] * len(references), "similarity": [float(s) for s in similarities], "exact": exact}


DESCRIPTION_SIMILARITY = {"similarity": ratio("similarity", "rows"), "exact_match": ratio("exact", "rows")}


ROWS = description_similarity_rows
STATISTICS = DESCRIPTION_SIMILARITY
