"""Checks of user-given option values, called in configs' ``__post_init__``: an error names the option and the value
before any model is loaded or file written.
"""

from __future__ import annotations

import math


def check_positive(option: str, value, *, optional: bool = False) -> None:
    """Refuse an integer option that must be at least 1 (``optional``: None is allowed too)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive integer, got {value!r}")


def check_non_negative(option: str, value) -> None:
    """Refuse an integer option that must be 0 or more (a seed, a count that may be zero)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{option} must be a non-negative integer, got {value!r}")


def check_dataset_reference(option: str, dataset: str) -> None:
    """Refuse a dataset that is neither an existing folder nor a Hub dataset id, before anything is loaded."""
    from pathlib import Path

    from huggingface_hub.utils import HFValidationError, validate_repo_id

    path = Path(dataset)
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(
                f"{option} {dataset}: it is a file; give a dataset folder (from self-explain build) "
                "or a Hub dataset id"
            )
        model_files = [name for name in ("adapter_config.json", "config.json") if (path / name).is_file()]
        if model_files:
            raise ValueError(
                f"{option} {dataset} holds a model or an explainer ({model_files[0]}), not a dataset; "
                "give a dataset folder (from self-explain build)"
            )
        return
    try:
        validate_repo_id(dataset)
    except HFValidationError:
        raise FileNotFoundError(
            f"{option} {dataset}: no such folder, and not a Hub dataset id (org/name); build it "
            "with self-explain build, or check the path"
        ) from None


def check_positive_number(option: str, value) -> None:
    """Refuse a float option that must be a finite number above 0 (a learning rate, a number of epochs)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option} must be a number above 0, got {value!r}")


def check_non_negative_number(option: str, value) -> None:
    """Refuse a float option that must be a finite number of 0 or more (a weight, a coefficient)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{option} must be a finite number of 0 or more, got {value!r}")


def check_distinct(option: str, values) -> None:
    """Refuse a list option that names a value twice (a layer, a split)."""
    values = list(values)
    repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
    if repeated:
        raise ValueError(f"{option} names {', '.join(map(str, repeated))} more than once; give each once")


def check_metric_inputs(metric: str, predictions, references) -> None:
    """Refuse predictions or references that are missing, not a list, or empty, before ``evaluate`` reads them."""
    for name, value in (("predictions", predictions), ("references", references)):
        if value is None:
            raise ValueError(f"{metric}: {name} is missing (None); give a list with one entry per item")
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
            raise ValueError(f"{metric}: {name} must be a list with one entry per item, got {type(value).__name__}")
        if len(value) == 0:  # evaluate cannot even infer the input format from an empty list
            raise ValueError(f"{metric}: {name} is empty; give at least one {name[:-1]}")
