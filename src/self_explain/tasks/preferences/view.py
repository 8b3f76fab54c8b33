"""How the explanation report shows a preferences row: the scenario and its attributes."""

from __future__ import annotations

from ..row_view import row_view


def preferences_row_view(row: dict) -> dict:
    """The report's view of a preferences dataset row (``tasks.row_view.ROW_VIEW``)."""
    attributes = ", ".join(f"{a['name']} ({a['unit']}, {a['min']:g} to {a['max']:g})" for a in row["attributes"])
    details = {
        "attributes": attributes,
        "kind": row["kind"],
        "fit p-value": f"{row['fit_p_value']:.3g}",
        "fit agreement": f"{row['fit_agreement']:.0%}",
    }
    return row_view([(row["scenario"], False)], details, row["kind"])
