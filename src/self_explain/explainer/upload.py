"""Pushing an explainer folder (weights, metadata, card) to the Hub, and its base when the base has no repo of its own.

A pushed adapter is a plain PEFT repo: its ``adapter_config.json`` names its base by Hub id
(:mod:`self_explain.core.hub_ids`): a packaged model by its original's id, a model the package ships or makes by
``<owner>/<name>`` in the adapter's namespace (uploaded there first) or ``base_repo_id``, a Hub base by its id.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..core.hub_ids import canonical_hub_id, is_package_made, is_repo_id
from ..core.models import resolve_model_id
from ..core.packaged_models import is_packaged_model
from ..hub.api import hub_api, hub_errors, require_token, upload_folder
from ..utils.files import write_atomically
from .card import (
    EXPLAINER_METADATA,
    VECTOR_CONTROL_RESULTS,
    explainer_files,
    public_name,
    read_adapter_config,
    read_explainer_metadata,
    render_explainer_card,
    secret_paths,
)

logger = logging.getLogger(__name__)

# A base model's files that go up to its own repo (whichever of them the folder has).
BASE_MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "README.md",
    "toyworld.json",
    "self_explain_packaged.json",
)


def push_base_model(
    model: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload a shipped or made model, or a local folder, as the Hub base an adapter names; returns the url."""
    require_token(f"push the base model to {repo_id}", token)
    folder = Path(resolve_model_id(str(model)))
    weights = [*folder.glob("model*.safetensors")] if folder.is_dir() else []
    if not (folder / "config.json").is_file() or not weights:
        raise ValueError(f"base model {str(model)!r}: {folder} holds no config.json and safetensors weights to upload")
    present = sorted({path.name for pattern in BASE_MODEL_FILES for path in folder.glob(pattern)})
    api = hub_api(token)
    with hub_errors(f"push the base model to {repo_id}", kept=folder):
        api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
        return upload_folder(
            api,
            repo_id=repo_id,
            folder=folder,
            allow_patterns=present,
            delete_patterns=None,
            commit_message=commit_message or f"Upload {public_name(str(model))}",
            repo_type="model",
        )


def base_repo_plan(
    metadata: dict, repo_id: str, base_repo_id: str | None = None, push_base: bool | None = None
) -> tuple[str, str | None]:
    """The Hub id an adapter pushed to ``repo_id`` names as its base, and the model to upload there first (or None).

    ``push_base`` defaults to uploading when the base has no repo of its own and no ``base_repo_id`` is given.
    """
    base = metadata["explainer_base"]
    for name, value in (("repo_id", repo_id), ("base_repo_id", base_repo_id)):
        if value is not None and not is_repo_id(value):
            raise ValueError(f"{name} {value!r} is not a Hub repo id (owner/name)")
    if base_repo_id:
        return base_repo_id, (base if push_base else None)
    if is_packaged_model(base) and not is_package_made(base):
        if push_base:
            raise ValueError(
                f"the base {base!r} is {canonical_hub_id(base)} on the Hub; to upload the package's own "
                "copy as well, name its repo with base_repo_id"
            )
        return canonical_hub_id(base), None
    recorded = metadata.get("explainer_base_repo_id", canonical_hub_id(base) or (base if is_repo_id(base) else None))
    if recorded and not is_package_made(base):
        return recorded, None  # a base that is on the Hub already
    if not is_package_made(base) and not Path(base).is_dir():
        raise ValueError(
            f"the explainer's base {base!r} was a local folder that is not here: give base_repo_id, the "
            "Hub repo that holds it, so that the adapter's base resolves"
        )
    if push_base is False:
        raise ValueError(
            f"the explainer's base {public_name(base)!r} has no Hub repo of its own: give base_repo_id, "
            "the repo that holds it, or let the push upload it (push_base)"
        )
    if "/" not in repo_id:
        raise ValueError(
            f"repo_id {repo_id!r} has no owner to upload the base {public_name(base)!r} under: give "
            "owner/name, or base_repo_id"
        )
    return f"{repo_id.split('/')[0]}/{public_name(base)}", base


def with_published_dataset(metadata: dict, dataset_repo_id: str) -> dict:
    """A copy of the metadata naming the training dataset by ``dataset_repo_id`` wherever that dataset was read."""

    def named(entry: dict) -> dict:
        same = (entry.get("dataset") or metadata["dataset"]) == metadata["dataset"]
        return dict(entry, dataset_repo_id=dataset_repo_id) if same and not entry.get("dataset_repo_id") else entry

    published = dict(metadata, dataset_repo_id=dataset_repo_id)
    if metadata.get("eval_results"):
        published["eval_results"] = [named(entry) for entry in metadata["eval_results"]]
    if metadata.get(VECTOR_CONTROL_RESULTS):
        published[VECTOR_CONTROL_RESULTS] = named(metadata[VECTOR_CONTROL_RESULTS])
    return published


def _stage(folder: Path, files: list[str], staging: Path) -> None:
    """Link (or copy) ``files`` of ``folder`` into ``staging``, so that the upload can differ without touching them."""
    for name in files:
        source, target = folder / name, staging / name
        if not source.is_file():
            continue
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def _write_json(path: Path, data: dict) -> None:
    """Replace a staged file (never the linked original) with ``data`` as JSON."""
    path.unlink(missing_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def push_adapter(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    base_repo_id: str | None = None,
    push_base: bool | None = None,
    dataset_repo_id: str | None = None,
) -> str:
    """Upload an explainer folder (adapter or full model) to a Hub model repo, with a fresh card; returns the url.

    Only the explainer's files go up (weights, tokenizer, projection, metadata, README.md). An adapter names its base
    by Hub id ([`base_repo_plan`]), uploaded first with [`push_base_model`] when it has no repo. Once pushed, the
    folder's README.md becomes the pushed card.

    Args:
        folder (`str` or `Path`): A trained explainer folder.
        repo_id (`str`): The Hub model repo, ``owner/name`` (created if missing).
        token (`str`, *optional*): A Hugging Face token (default: the logged-in one).
        private (`bool`): Create the repo (and the base's) private.
        commit_message (`str`, *optional*): The commit message (default: names the task, kind and target).
        base_repo_id (`str`, *optional*): The Hub repo of the adapter's base (see [`base_repo_plan`]).
        push_base (`bool`, *optional*): Upload the base to ``base_repo_id`` first (see [`base_repo_plan`]).
        dataset_repo_id (`str`, *optional*): The Hub dataset a locally trained explainer's dataset was published as.

    Raises:
        FileNotFoundError: When the folder lacks its metadata, weights or tokenizer files.
        ValueError: When the metadata holds what looks like a credential, the folder is inconsistent, ``repo_id`` is
            not a Hub repo id, or the adapter's base cannot be named by a Hub id.
    """
    folder = Path(folder)
    metadata = read_explainer_metadata(folder)  # the folder first: a wrong path is said before a missing token
    files, full_model = explainer_files(folder, metadata)
    secrets = secret_paths(metadata)
    if token and token in json.dumps(metadata):
        secrets.append("(the token passed to push_adapter)")
    if secrets:
        raise ValueError(
            f"refusing to upload {folder / EXPLAINER_METADATA}: it holds what looks like a credential "
            f"at {secrets}; remove it and push again"
        )
    try:  # offline, before the token: a malformed id would only be refused by the Hub
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ValueError(
            f"{repo_id!r} is not a Hub repo id: give org/name (letters, digits, '-', '_' and '.'), "
            "e.g. org/toy-target-patching-explainer"
        ) from None
    if dataset_repo_id is not None and not is_repo_id(dataset_repo_id):
        raise ValueError(f"dataset_repo_id {dataset_repo_id!r} is not a Hub repo id (owner/name)")
    pushed = with_published_dataset(metadata, dataset_repo_id) if dataset_repo_id else metadata
    base_id, base_upload = (None, None) if full_model else base_repo_plan(metadata, repo_id, base_repo_id, push_base)
    card = render_explainer_card(pushed, repo_id=repo_id, full_model=full_model, base_repo_id=base_id)
    require_token(f"push to {repo_id}", token)
    api = hub_api(token)
    kind = "model" if full_model else "adapter"
    default_message = f"Upload {metadata['task']} explainer {kind} for {public_name(metadata['target'])}"
    with tempfile.TemporaryDirectory(prefix="self-explain-push-") as staging_name:
        staging = Path(staging_name)
        _stage(folder, files, staging)
        if base_id is not None:
            _write_json(
                staging / "adapter_config.json", {**read_adapter_config(folder), "base_model_name_or_path": base_id}
            )
        if pushed is not metadata:
            _write_json(staging / EXPLAINER_METADATA, pushed)
        (staging / "README.md").unlink(missing_ok=True)
        card.save(staging / "README.md")
        if base_upload is not None:
            logger.info("uploading the explainer's base %s to %s first", public_name(base_upload), base_id)
            push_base_model(base_upload, base_id, token=token, private=private)
        with hub_errors(f"push the explainer to {repo_id}", kept=folder):
            api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
            url = upload_folder(
                api,
                repo_id=repo_id,
                folder=staging,
                allow_patterns=files,
                delete_patterns=None,
                commit_message=commit_message or default_message,
                repo_type="model",
                shown=folder,
            )
    write_atomically(folder / "README.md", card.save)  # the card naming the repo, once the push succeeded
    return url
