"""The task registry: every task folder registers an instance of its :class:`~self_explain.tasks.Task` subclass.

The built-in task folders are imported on the registry's first use: they load torch and datasets, which
``self-explain --help`` and ``import self_explain`` do without.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Task


class TaskRegistry(MutableMapping):
    """Task name → :class:`Task`, in registration order; :meth:`add_modules`' modules are imported on first read."""

    def __init__(self) -> None:
        self._specs: dict[str, Task] = {}
        self._modules: list[str] = []  # every module added; the ones not yet imported are also in _pending
        self._pending: list[str] = []
        self._loading = False

    def add_modules(self, *modules: str) -> None:
        """Import these modules (each registers its task) when the registry is first read."""
        for module in modules:
            if module not in self._modules:
                self._modules.append(module)
                self._pending.append(module)

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules added with :meth:`add_modules`, imported or not (the command line reads them statically)."""
        return tuple(self._modules)

    def _load(self) -> None:
        """Import the pending modules (a module that fails to import stays pending and fails again next time)."""
        if self._loading:  # a module being imported registers its task: no reentry
            return
        self._loading = True
        try:
            while self._pending:
                importlib.import_module(self._pending[0])
                self._pending.pop(0)
        finally:
            self._loading = False

    def __getitem__(self, name: str) -> Task:
        self._load()
        return self._specs[name]

    def __setitem__(self, name: str, spec: Task) -> None:
        self._specs[name] = spec
        # The built-in tasks in the order they were added, whichever task folder was imported first; others after.
        position = {module: index for index, module in enumerate(self._modules)}
        self._specs = dict(
            sorted(self._specs.items(), key=lambda item: position.get(self._module_of(item[1]), len(position)))
        )

    def _module_of(self, spec) -> str | None:
        """The added module whose package holds the task's class (None for a task registered otherwise)."""
        module = type(spec).__module__ or ""
        return next((m for m in self._modules if module == m or module.startswith(m + ".")), None)

    def __delitem__(self, name: str) -> None:
        del self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._specs))

    def __len__(self) -> int:
        self._load()
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._specs

    def __repr__(self) -> str:
        return f"TaskRegistry({sorted(self)})"


TASKS = TaskRegistry()


def register_task(task):
    """Add a task to the registry (each task folder calls this once, when imported).

    Use it on an instance, ``register_task(PatchingTask())``, or as a class decorator, which registers an instance
    made without arguments.

    Args:
        task (`Task` or `type[Task]`): The task, or its class; its ``name`` is the registry key.

    Returns:
        The argument, unchanged (so that it works as a decorator).

    Raises:
        TypeError: ``task`` is not a :class:`Task` (or a subclass of it).
        ValueError: A task of that name is already registered (the built-in tasks included).
    """
    from .base import Task

    instance = task() if isinstance(task, type) and issubclass(task, Task) else task
    if not isinstance(instance, Task):
        raise TypeError(f"register_task takes a Task or a Task subclass, not {type(task).__name__}")
    if not isinstance(getattr(instance, "name", None), str) or not instance.name:
        raise TypeError(f"{type(instance).__name__} has no name")
    if instance.name in TASKS:
        raise ValueError(f"task {instance.name!r} is registered twice")
    TASKS[instance.name] = instance
    return task


def get_task(name: str) -> Task:
    """The registered task of that name.

    Args:
        name (`str`): A task name, e.g. ``"patching"``.

    Raises:
        ValueError: For an unknown name, listing the known tasks.
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def check_dataset_config(dataset: str, config: str | None, option: str = "--dataset_config") -> None:
    """Refuse (ValueError) a config a local dataset folder lacks, listing its configs; Hub ids are not checked."""
    from ..hub.datasets import read_card_configs

    readme = Path(dataset) / "README.md"
    if config is None or not readme.is_file():
        return
    try:
        names = [entry.get("config_name") for entry in read_card_configs(readme)]
    except Exception:  # an unreadable card: load_dataset says what is wrong with it
        return
    if names and config not in names:
        raise ValueError(
            f"{option} {config!r}: dataset {dataset} has no such config; it has {', '.join(map(str, names))}"
        )


def task_of_dataset(dataset: str, revision: str | None = None) -> Task:
    """The task whose builder made ``dataset`` (a folder or Hub id), read from the card's marker.

    Args:
        dataset (`str`): A dataset folder or Hub id.
        revision (`str`, *optional*): The revision of a Hub dataset whose card is read.

    Raises:
        ValueError: The card cannot be read or its marker names no registered task (the message says to pass
            ``--task``).
    """
    from huggingface_hub import DatasetCard

    from ..hub.datasets import DATASET_MARKER_KEY

    readme = Path(dataset) / "README.md"
    if readme.is_file():
        from ..utils.files import read_user_text

        read_user_text(readme, "the card of --dataset_name")  # not UTF-8: named with its line and byte
    try:
        if Path(dataset).is_dir() and not readme.is_file():
            raise FileNotFoundError("the folder has no README.md card")
        if not readme.is_file():
            from huggingface_hub import hf_hub_download

            readme = hf_hub_download(dataset, "README.md", repo_type="dataset", revision=revision)
        card = DatasetCard.load(readme)
        marker = card.data.to_dict().get(DATASET_MARKER_KEY)
    except Exception as error:  # a missing card, or a Hub id that cannot be reached
        reason = " ".join(str(error).split())  # one line: YAML errors draw the place under the text
        if readme.is_file():  # a local card that cannot be read: load_dataset would fail on it too, whatever the task
            raise ValueError(
                f"cannot read the card {readme} of dataset {dataset!r} ({reason}); fix its YAML header "
                "(between the --- lines), or build the dataset again"
            ) from error
        raise ValueError(
            f"cannot tell the task of dataset {dataset!r} from its card ({reason}); pass --task"
        ) from error
    for spec in TASKS.values():
        if spec.dataset_name == marker:
            return spec
    raise ValueError(
        f"dataset {dataset!r} was not made by a self-explain builder (card marker {marker!r}); pass --task"
    )
