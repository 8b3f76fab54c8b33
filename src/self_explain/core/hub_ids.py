"""The Hub ids of the models the package ships or packages, and back: what a pushed adapter names as its base.

A **packaged** model (``smollm2-135m``) is named by the Hub id its GGUF was made from; one the package **ships or
makes** (toy models, explainers, ``smollm2-135m-edited``) by ``self-explain/<name>``, to which a push uploads the base.
Within the package each such id maps back to the local copy, offline, unless a Hub revision is given.
"""

from __future__ import annotations

from pathlib import Path

from .packaged_models import PACKAGED_MODELS, PackagedAdapterModel, PackagedModel
from .shipped_names import SHIPPED_EXPLAINERS, TOY_MODELS

SHIPPED_ORGANISATION = "self-explain"  # canonical owner of the ids of what the package ships (never downloaded)


def is_repo_id(name: str) -> bool:
    """Whether ``name`` has the form of a Hub repo id (``owner/name`` or ``name``), whatever exists on this disk."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(name, str) or not name or name.startswith((".", "/", "~")) or "\\" in name:
        return False
    if name.count("/") > 1:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _package_made_names() -> tuple[str, ...]:
    """The names of the models the package ships or makes itself (toy models, shipped explainers, merged edits)."""
    merged = tuple(name for name, model in PACKAGED_MODELS.items() if isinstance(model, PackagedAdapterModel))
    return TOY_MODELS + SHIPPED_EXPLAINERS + merged


def _gguf_originals() -> dict[str, str]:
    """Each GGUF-packaged short name's original Hub id."""
    return {name: model.original for name, model in PACKAGED_MODELS.items() if isinstance(model, PackagedModel)}


def is_package_made(name: str) -> bool:
    """Whether ``name`` is a model the package ships or makes, which has no Hub repo of its own."""
    return name in _package_made_names()


def canonical_hub_id(name: str) -> str | None:
    """The Hub id a shipped or packaged short name is published under (see the module docstring)."""
    originals = _gguf_originals()
    if name in originals:
        return originals[name]
    if is_package_made(name):
        return f"{SHIPPED_ORGANISATION}/{name}"
    return None


def shipped_name_of(repo_id: str) -> str | None:
    """The shipped or packaged short name a Hub id stands for in this package (the inverse of `canonical_hub_id`)."""
    if not isinstance(repo_id, str):
        return None
    for name, original in _gguf_originals().items():
        if repo_id == original:
            return name
    owner, _, name = repo_id.partition("/")
    if owner == SHIPPED_ORGANISATION and is_package_made(name):
        return name
    return None


def hub_id_of_model(name: str) -> str | None:
    """The Hub id an adapter trained on a model names as its base; None for an existing local folder."""
    canonical = canonical_hub_id(name)
    if canonical is not None:
        return canonical
    if Path(name).exists() or not is_repo_id(name):
        return None
    return name


def hub_id_of_dataset(name: str) -> str | None:
    """The Hub id a dataset was read from: None for a local folder (called when it is read, where it exists)."""
    return None if Path(name).exists() or not is_repo_id(name) else name
