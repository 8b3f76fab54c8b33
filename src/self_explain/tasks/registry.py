"""The task registry: every task registers its :class:`TaskSpec` here when its folder is imported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import TaskSpec

TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> None:
    """Add a task to the registry (each task folder calls this once, when imported).

    Args:
        spec (`TaskSpec`): The task's declaration; its ``name`` is the registry key.

    Raises:
        ValueError: When a task of that name is already registered.
    """
    if spec.name in TASKS:
        raise ValueError(f"task {spec.name!r} is registered twice")
    TASKS[spec.name] = spec


def get_task(name: str) -> TaskSpec:
    """The registered task of that name.

    Args:
        name (`str`): A task name, e.g. ``"patching"``.

    Returns:
        `TaskSpec`: The task's declaration.

    Raises:
        ValueError: For an unknown name, listing the known tasks.
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def check_dataset_config(dataset: str, config: str | None, option: str = "--config") -> None:
    """Refuse a config that a local dataset folder does not have, listing the ones it has (Hub ids: not checked).

    Args:
        dataset (`str`): A dataset folder or Hub id.
        config (`str`, *optional*): The config asked for (None: the dataset's default, checked by ``load_dataset``).
        option (`str`, *optional*, defaults to `"--config"`): How the user named the config, for the message.

    Raises:
        ValueError: naming the config and listing the dataset's configs.
    """
    from ..hub.datasets import read_card_configs

    readme = Path(dataset) / "README.md"
    if config is None or not readme.is_file():
        return
    try:
        names = [entry.get("config_name") for entry in read_card_configs(readme)]
    except Exception:  # an unreadable card: load_dataset says what is wrong with it
        return
    if names and config not in names:
        raise ValueError(f"{option} {config!r}: dataset {dataset} has no such config; it has {', '.join(map(str, names))}")


def task_of_dataset(dataset: str, revision: str | None = None) -> TaskSpec:
    """The task whose builder made ``dataset`` (a folder or Hub id), read from the card's marker.

    Args:
        dataset (`str`): A dataset folder or Hub id.
        revision (`str`, *optional*): The revision of a Hub dataset whose card is read.

    Returns:
        `TaskSpec`: The task whose ``dataset_name`` is the card's marker.

    Raises:
        ValueError: When the card cannot be read (a folder without README.md, an unreachable Hub id) or its
            marker names no registered task; the message says to pass ``--task``.
    """
    from huggingface_hub import DatasetCard

    from ..hub.datasets import DATASET_MARKER_KEY

    readme = Path(dataset) / "README.md"
    if readme.is_file():
        from ..core.files import read_user_text

        read_user_text(readme, "the card of --dataset")  # not UTF-8: named with its line and byte
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
            raise ValueError(f"cannot read the card {readme} of dataset {dataset!r} ({reason}); fix its YAML header "
                             "(between the --- lines), or build the dataset again") from error
        raise ValueError(f"cannot tell the task of dataset {dataset!r} from its card ({reason}); pass --task") from error
    for spec in TASKS.values():
        if spec.dataset_name == marker:
            return spec
    raise ValueError(f"dataset {dataset!r} was not made by a self-explain builder (card marker {marker!r}); pass --task")

