"""Evaluation: scoring a checkpoint, baselines, the privileged-access experiment and its report.

``_PUBLIC`` is the public API; a name is imported from its module on first use.
"""

from ..utils.imports import lazy_exports

_PUBLIC = {
    "EvaluateConfig": ".evaluator",
    "run_evaluation": ".evaluator",
    "run_baseline": ".baselines",
    "control_results": ".vector_controls",
    "ExperimentConfig": ".experiment",
    "ExperimentSteps": ".experiment",
    "ModelSteps": ".experiment",
    "run_experiment": ".experiment",
    "summarize": ".summary_statistics",
    "paired_differences": ".summary_statistics",
    "ReportConfig": ".explanation_report",
    "run_report": ".explanation_report",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = sorted(_PUBLIC)
