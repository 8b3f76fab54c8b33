"""How the explanation report shows a feature row: its top exemplar with the most active token marked."""

from __future__ import annotations

from ..row_view import row_view


def features_row_view(row: dict) -> dict:
    """The report's view of a feature-description dataset row (``tasks.row_view.ROW_VIEW``)."""
    exemplars = [e for e in row["exemplars"] if e["kind"] == "top"] or list(row["exemplars"])
    segments = []
    if exemplars:
        tokens, activations = list(exemplars[0]["tokens"]), list(exemplars[0]["activations"])
        peak = max(range(len(activations)), key=activations.__getitem__) if activations else -1
        segments = [(token, index == peak) for index, token in enumerate(tokens)]
    details = {
        "layer": row["layer"],
        "feature": row["feature"],
        "SAE": row["sae"],
        "description score": f"{row['score']:.3f}",
        "activation frequency": f"{row['activation_frequency']:.2%}",
    }
    return row_view(segments, details)
