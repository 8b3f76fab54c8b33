"""How a dataset row is shown in the explanation report: the one declaration of a row's view.

Each task's :meth:`~self_explain.tasks.Task.row_view` turns its rows into this shape, so nothing outside a task
folder needs to know a task's columns.
"""

from __future__ import annotations

from datasets import List, Value

# The prompt as segments (a token, a span) of which the marked ones are highlighted (the patched token, the hint);
# details as name/value pairs (the layer window, the counterfactual); the ground truth's class for the report's
# filter ("changed" / "unchanged"; "" when the task has none).
ROW_VIEW = {
    "segments": List({"text": Value("string"), "marked": Value("bool")}),
    "details": List({"name": Value("string"), "value": Value("string")}),
    "label": Value("string"),
}


def row_view(segments: list[tuple[str, bool]], details: dict[str, object] | None = None, label: str = "") -> dict:
    """A row's view as ``ROW_VIEW`` declares it: highlighted prompt ``segments``, ``details`` shown as text, ``label``.

    Example:

    ```python
    >>> row_view([("Paris", True), (" is in", False)], {"layer": 3}, "changed")["details"]
    [{'name': 'layer', 'value': '3'}]

    ```
    """
    return {
        "segments": [{"text": str(text), "marked": bool(marked)} for text, marked in segments],
        "details": [{"name": str(name), "value": str(value)} for name, value in (details or {}).items()],
        "label": label,
    }


def layer_window(layers: list[int]) -> str:
    """A patched layer window as text: ``"4"`` for one layer, ``"4–6"`` for consecutive ones, else a list.

    Example:

    ```python
    >>> layer_window([4]), layer_window([4, 5, 6]), layer_window([2, 9])
    ('4', '4–6', '2, 9')

    ```
    """
    layers = [int(layer) for layer in layers]
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}–{layers[-1]}"
    return ", ".join(map(str, layers))
