"""Preference introspection (Plunkett et al. 2025): instil decision weights, measure them, report them as JSON.

``_PUBLIC`` is the public API besides the config and the task; a name is imported from its module on first use.
"""

from ...utils.imports import lazy_exports
from ..registry import register_task
from .config import PreferencesConfig
from .task import PreferencesTask

register_task(PreferencesTask())

_PUBLIC = {
    "Scenario": ".scenarios",
    "read_scenarios": ".scenarios",
    "MeasuredWeights": ".choices",
    "measure_weights": ".choices",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = ["PreferencesConfig", "PreferencesTask"] + sorted(_PUBLIC)
