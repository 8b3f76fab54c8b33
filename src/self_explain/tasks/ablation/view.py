"""How the explanation report shows an ablation row: the text with the removed span (the hint) marked."""

from __future__ import annotations

from ..row_view import row_view


def ablation_row_view(row: dict) -> dict:
    """The report's view of an ablation row: the removed span marked, the options and answers, ``changed`` or not."""
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
