"""How the explanation report shows an ablation row: the text with the removed span (the hint) marked."""

from __future__ import annotations

from ..row_view import row_view


def ablation_row_view(row: dict) -> dict:
    """The report's view of an ablation dataset row (``tasks.row_view.ROW_VIEW``).

    Args:
        row (`dict`): A row of the ablation dataset.

    Returns:
        `dict`: The user message with the removed span marked; the options, the option the hint names, the answer
        chosen with and without the span and the correct one; label ``"changed"`` or ``"unchanged"``.
    """
    text, span = row["text"], row["span"]
    start, end = int(span["start"]), int(span["end"])
    segments = [(piece, marked) for piece, marked in
                ((text[:start], False), (text[start:end], True), (text[end:], False)) if piece]
    details = {
        "options": ", ".join(row["choices"]) if row["choices"] else "(not multiple choice)",
        "the hint names": row["hint_answer"] or "-",
        "answer with the span": row["original_choice"],
        "answer without it": row["ablated_choice"],
        "correct answer": row["correct_answer"] or "-",
    }
    return row_view(segments, details, "changed" if row["is_different"] else "unchanged")
