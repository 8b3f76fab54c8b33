"""``BuildConfig``: the options every dataset build shares; each task's config extends it with its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.checks import check_non_negative


@dataclass
class BuildConfig:
    """Options of every ``self-explain build <task>`` (a task's config adds its own after these).

    Args:
        target (`str`):
            Target model: Hub id, local folder, or toy name (toy-target, ...).
        out (`str`):
            Dataset folder, written in Hub repo layout (one config per target).
        seed (`int`, *optional*, defaults to 0):
            Seed of every random choice of the build (sampling, splits, templates).
        config_name (`str`, *optional*):
            Config name (default: the target's short name).
        revision (`str`, *optional*):
            Revision of a Hub target.
        push_to_hub (`str`, *optional*):
            Hub dataset repo to add this config to.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace this config if it already exists.
        trust_remote_code (`bool`, *optional*, defaults to `False`):
            Allow custom model code from the Hub.

    Raises:
        ValueError: When ``seed`` is negative, ``target`` or ``out`` is empty, or ``config_name`` cannot name a
            folder.
    """

    target: str = field(metadata={"help": "Target model: Hub id, local folder, or toy name (toy-target, ...)."})
    out: str = field(metadata={"help": "Dataset folder, written in Hub repo layout (one config per target)."})
    seed: int = field(default=0, metadata={"help": "Seed of every random choice (sampling, splits, templates)."})
    config_name: str | None = field(default=None, metadata={"help": "Config name (default: the target's short name)."})
    revision: str | None = field(default=None, metadata={"help": "Revision of a Hub target."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Hub dataset repo to add this config to."})
    overwrite: bool = field(default=False, metadata={"help": "Replace this config if it already exists."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        check_non_negative("--seed", self.seed)
        if not str(self.target).strip():
            raise ValueError("--target is empty; give a model: a toy name (toy-target), a folder or a Hub id")
        if not str(self.out).strip():
            raise ValueError("--out is empty; give the dataset folder to write, e.g. --out ds")
        if self.config_name is not None:
            check_config_name(self.config_name)


def check_config_name(name: str) -> None:
    """Refuse a ``--config-name`` that cannot be a config: it names the folder ``data/<config>/`` of the dataset.

    Args:
        name (`str`): The config name given.

    Raises:
        ValueError: For an empty name, one with a slash or a control character, or one starting with a dot.
    """
    if not name.strip() or name.startswith(".") or any(c in name for c in "/\\") or not name.isprintable():
        raise ValueError(f"--config-name {name!r} is not a config name: it names the folder data/<config>/ of the "
                         "dataset; give a name without slashes that does not start with a dot, e.g. --config-name "
                         "toy-target-v2")
