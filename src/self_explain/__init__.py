"""self-explain: train language models to explain their own internal computations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("self-explain")
except PackageNotFoundError:  # running from a source checkout without installing
    __version__ = "0.0.0+source"

from .tasks import TASKS, get_task, load_builtin_tasks, register_task  # noqa: E402

load_builtin_tasks()

__all__ = ["TASKS", "__version__", "get_task", "register_task"]
