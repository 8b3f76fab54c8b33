"""Preference introspection (Plunkett et al. 2025): instil decision weights, measure them, report them as JSON."""

from ..registry import register_task
from .config import PreferencesConfig
from .task import PreferencesTask

register_task(PreferencesTask())

__all__ = ["PreferencesConfig", "PreferencesTask"]
