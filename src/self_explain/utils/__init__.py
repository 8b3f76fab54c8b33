"""Utilities with no model in them: files, option checks, recipes and arguments, progress bars, versions, lazy
imports, statistics and significance tests. The lowest layer: it imports nothing else of the package.

``_PUBLIC`` is the public API (documented in the Hugging Face style); a name is imported from its module on first use.
"""

from .imports import lazy_exports

_PUBLIC = {
    "SeedGroupBootstrap": ".stats",
    "pearson_correlation": ".stats",
    "bootstrap_p_value": ".significance",
    "equivalence_p_value": ".significance",
    "holm_adjust": ".significance",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = sorted(_PUBLIC)
