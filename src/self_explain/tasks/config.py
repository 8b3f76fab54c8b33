"""``BuildConfig``: the options every dataset build shares; each task's config extends it with its own."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from ..utils.checks import check_non_negative


@dataclass
class BuildConfig:
    """Options of every ``self-explain build <task>`` (a task's config adds its own after these).

    Args:
        target (`str`): Target model: Hub id, local folder, or toy name (toy-target, ...).
        output_dir (`str`): Dataset folder, written in Hub repo layout (one config per target).
            seed (`int`, *optional*, defaults to 0): Seed of every random choice (sampling, splits, templates).
        config_name (`str`, *optional*): Config name (default: the target's short name).
        revision (`str`, *optional*): Revision of a Hub target.
        push_to_hub (`bool`, *optional*, defaults to `False`): Add this config to the Hub dataset repo ``repo_id``.
        repo_id (`str`, *optional*): The Hub dataset repo of ``push_to_hub``, e.g. ``org/self-explain-patching``.
        overwrite (`bool`, *optional*, defaults to `False`): Replace this config if it already exists.
        trust_remote_code (`bool`, *optional*, defaults to `False`): Allow custom model code from the Hub.

    Raises:
        ValueError: A negative ``seed``, an empty ``target`` or ``output_dir``, a ``config_name`` that cannot name a
            folder, or ``push_to_hub`` without ``repo_id``.
    """

    target: str = field(metadata={"help": "Target model: Hub id, local folder, or toy name (toy-target, ...)."})
    output_dir: str = field(metadata={"help": "Dataset folder, written in Hub repo layout (one config per target)."})
    seed: int = field(default=0, metadata={"help": "Seed of every random choice (sampling, splits, templates)."})
    config_name: str | None = field(default=None, metadata={"help": "Config name (default: the target's short name)."})
    revision: str | None = field(default=None, metadata={"help": "Revision of a Hub target."})
    push_to_hub: bool = field(default=False, metadata={"help": "Add this config to the Hub dataset repo --repo_id."})
    repo_id: str | None = field(
        default=None, metadata={"help": "Hub dataset repo of --push_to_hub, e.g. org/self-explain-patching."}
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace this config if it already exists."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        check_non_negative("--seed", self.seed)
        if isinstance(self.push_to_hub, str):  # the old repo-valued option, for one release
            warnings.warn(
                "push_to_hub=<repo> is deprecated; use push_to_hub=True with repo_id=<repo>",
                FutureWarning,
                stacklevel=3,
            )
            self.push_to_hub, self.repo_id = True, self.repo_id or self.push_to_hub
        if self.push_to_hub and not self.repo_id:
            raise ValueError("--push_to_hub needs --repo_id: the Hub dataset repo to add this config to (org/name)")
        if not str(self.target).strip():
            raise ValueError("--target is empty; give a model: a toy name (toy-target), a folder or a Hub id")
        if not str(self.output_dir).strip():
            raise ValueError("--output_dir is empty; give the dataset folder to write, e.g. --output_dir ds")
        if self.config_name is not None:
            check_config_name(self.config_name)


def check_config_name(name: str) -> None:
    """Refuse (ValueError) a ``--config_name`` that cannot name the folder ``data/<config>/``."""
    if not name.strip() or name.startswith(".") or any(c in name for c in "/\\") or not name.isprintable():
        raise ValueError(
            f"--config_name {name!r} is not a config name: it names the folder data/<config>/ of the "
            "dataset; give a name without slashes that does not start with a dot, e.g. --config_name "
            "toy-target-v2"
        )
