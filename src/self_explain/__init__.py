"""self-explain: train language models to explain their own internal computations.

Importing the package registers the built-in tasks and the ``"self-explanation"`` pipeline.
"""

from .core.version import __version__
from .explainer.pipeline import ExplainerPipeline, register_pipeline
from .metrics import metric_path
from .tasks import (  # noqa: F401  (each registers its task)
    TASKS,
    ablation,
    features,
    get_task,
    patching,
    preferences,
    register_task,
)

register_pipeline()

__all__ = ["TASKS", "ExplainerPipeline", "__version__", "get_task", "metric_path", "register_task"]
