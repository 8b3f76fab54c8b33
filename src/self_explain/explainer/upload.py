"""Pushing an explainer folder (adapter or full model, its metadata and card) to the Hub."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..core.files import write_atomically
from ..hub.api import hub_api, hub_errors, require_token, upload_folder
from .card import (
    EXPLAINER_METADATA,
    explainer_files,
    public_name,
    read_explainer_metadata,
    render_explainer_card,
    secret_paths,
    write_card,
)


def push_adapter(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload a trained explainer folder (PEFT adapter or full model) to a Hub model repo, with a fresh card.

    Only the explainer's own files go up (weights, tokenizer, projection, metadata, README.md): checkpoint
    folders, logs and anything else in ``folder`` stay local.

    Args:
        folder (`str` or `Path`): A trained explainer folder.
        repo_id (`str`): The Hub model repo (created if missing).
        token (`str`, *optional*): A Hugging Face token (default: the logged-in one).
        private (`bool`, *optional*, defaults to `False`): Create the repo private.
        commit_message (`str`, *optional*): The commit message (default: names the task, kind and target).

    Returns:
        `str`: The commit url.

    A failed push leaves the folder as it was (its README.md is restored).

    Raises:
        FileNotFoundError: When the folder lacks its metadata, weights or tokenizer files.
        ValueError: When the metadata holds what looks like a credential, the folder is inconsistent, or
            ``repo_id`` is not a Hub repo id.
    """
    folder = Path(folder)
    metadata = read_explainer_metadata(folder)  # the folder first: a wrong path is said before a missing token
    files, full_model = explainer_files(folder, metadata)
    secrets = secret_paths(metadata)
    if token and token in json.dumps(metadata):
        secrets.append("(the token passed to push_adapter)")
    if secrets:
        raise ValueError(f"refusing to upload {folder / EXPLAINER_METADATA}: it holds what looks like a credential "
                         f"at {secrets}; remove it and push again")
    try:  # offline, before the token: a malformed id would only be refused by the Hub
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ValueError(f"{repo_id!r} is not a Hub repo id: give org/name (letters, digits, '-', '_' and '.'), "
                         "e.g. org/toy-target-patching-explainer") from None
    require_token(f"push to {repo_id}", token)
    # The card naming the repo goes up with the files; the local one changes only once the push succeeded.
    readme = folder / "README.md"
    before = readme.read_bytes() if readme.is_file() else None
    write_card(folder, render_explainer_card(metadata, repo_id=repo_id, full_model=full_model))
    api = hub_api(token)
    kind = "model" if full_model else "adapter"
    default_message = f"Upload {metadata['task']} explainer {kind} for {public_name(metadata['target'])}"
    try:
        with hub_errors(f"push the explainer to {repo_id}", kept=folder):
            api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
            return upload_folder(
                api,
                repo_id=repo_id,
                folder=folder,
                allow_patterns=files,
                delete_patterns=None,
                commit_message=commit_message or default_message,
                repo_type="model",
            )
    except BaseException:
        if before is None:
            readme.unlink(missing_ok=True)
        else:
            write_atomically(readme, lambda temporary: Path(temporary).write_bytes(before))
        raise

