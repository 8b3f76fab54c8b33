"""How the explanation report shows an ablation row: the text with the removed span (the hint) marked."""

from __future__ import annotations

from ..row_view import row_view


def ablation_row_view(row: dict) -> dict:
    """The report's view of an ablation dataset row (``tasks.row_view.ROW_VIEW``).

    Args:
        row (`dict`): A row of the ablation dataset (of another layout: ``text``, ``original_prediction``,
            ``ablated_prediction`` and ``is_different`` at least).

    Returns:
        `dict`: The user message with the removed span marked; the options, the option the hint names, the answer
        chosen with and without the span and the correct one; label ``"changed"`` or ``"unchanged"``.
    """
    text, span = row["text"], row.get("span")
    start, end = (int(span["start"]), int(span["end"])) if span else (0, 0)  # no span recorded: nothing marked
    segments = [
        (piece, marked)
        for piece, marked in ((text[:start], False), (text[start:end], True), (text[end:], False))
        if piece
    ]
    details = {
        "options": ", ".join(row.get("choices") or []) or "(not multiple choice)",
        "the hint names": row.get("hint_answer") or "-",
        "answer with the span": row.get("original_choice") or row["original_prediction"],
        "answer without it": row.get("ablated_choice") or row["ablated_prediction"],
        "correct answer": row.get("correct_answer") or "-",
    }
    return row_view(segments, details, "changed" if row["is_different"] else "unchanged")
