"""self-explain: train language models to explain their own internal computations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("self-explain")
except PackageNotFoundError:  # running from a source checkout without installing
    __version__ = "0.0.0+source"

from .metrics import metric_path  # noqa: E402
from .tasks import TASKS, get_task, load_builtin_tasks, register_task  # noqa: E402

load_builtin_tasks()

from .pipeline import ExplainerPipeline, register_pipeline  # noqa: E402

register_pipeline()

__all__ = ["TASKS", "ExplainerPipeline", "__version__", "get_task", "metric_path", "register_task"]
