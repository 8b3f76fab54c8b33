"""How the explanation report shows a patching row: the prompt's tokens with the patched one marked."""

from __future__ import annotations

from ..row_view import layer_window, row_view


def patching_row_view(row: dict) -> dict:
    """The report's view of a patching row (ours or the reference's): the patched token marked, tokens shown with
    ``repr``, label ``changed`` or not."""
    position = row["patch_position"]
    window = row.get("layers") or (list(row["layer"]) if isinstance(row["layer"], list) else [row["layer"]])
    if row.get("input_tokens"):
        segments = [(token, index == position["orig_pos"]) for index, token in enumerate(row["input_tokens"])]
    else:  # a text without its tokens: nothing to mark
        segments = [(row.get("original_text", ""), False)]
    details = {
        "layers": layer_window(window),
        "patched token": f"{position['orig_text_token']!r} at position {position['orig_pos']}",
        "counterfactual": row["counterfactual_text"],
        "counterfactual token": f"{position['counterfact_text_token']!r} at position {position['counterfact_pos']}",
        "token type": row.get("token_type") or "-",
        "next token without the patch": repr(row["original_continuation"]),
        "next token with the patch": repr(row["ablated_continuation"]),
    }
    return row_view(segments, details, "changed" if row["is_different"] else "unchanged")
