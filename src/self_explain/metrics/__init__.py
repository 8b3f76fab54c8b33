"""Metrics shipped as Hugging Face `evaluate` modules: one folder per metric, `<name>/<name>.py` + `README.md` card.

Load one with `evaluate.load(self_explain.metrics.metric_path("causal_match"))`.
"""

from pathlib import Path

_METRICS_DIR = Path(__file__).parent

METRICS: tuple[str, ...] = tuple(
    sorted(folder.name for folder in _METRICS_DIR.iterdir() if (folder / f"{folder.name}.py").is_file())
)


def metric_path(name: str) -> str:
    """The folder of a shipped metric, to pass to `evaluate.load` (works offline, from a checkout or a wheel).

    Args:
        name (`str`): the metric, one of ``METRICS`` (e.g. ``causal_match``).

    Returns:
        `str`: the metric's folder.

    Raises:
        ValueError: if no shipped metric has that name.
    """
    if name not in METRICS:
        raise ValueError(f"Unknown metric {name!r}; the shipped metrics are: {', '.join(METRICS) or '(none)'}.")
    return str(_METRICS_DIR / name)


__all__ = ["METRICS", "metric_path"]
