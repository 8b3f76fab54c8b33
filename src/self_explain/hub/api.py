"""The one door to the Hub: an authenticated client and the one upload function."""

from __future__ import annotations

import logging
from pathlib import Path

from huggingface_hub import HfApi

logger = logging.getLogger(__name__)


def hub_api(token: str | None = None) -> HfApi:
    """The Hub client every self-explain call uses (tests patch ``self_explain.hub.api.HfApi``).

    Args:
        token (`str`, *optional*): a Hugging Face token (default: the one ``hf auth login`` or ``HF_TOKEN`` gives).

    Returns:
        `HfApi`: the client.
    """
    return HfApi(token=token)

def upload_folder(
    api: HfApi,
    *,
    repo_id: str,
    folder: str | Path,
    allow_patterns: list[str],
    delete_patterns: list[str] | None,
    commit_message: str,
    repo_type: str = "dataset",
) -> str:
    """The one place that uploads to the Hub; returns the commit url.

    Args:
        api (`HfApi`): the Hub client.
        repo_id (`str`): the repo, ``owner/name``.
        folder (`str` or `Path`): the local folder to upload from.
        allow_patterns (`list[str]`): the files of ``folder`` to upload.
        delete_patterns (`list[str]` or `None`): remote files to delete in the same commit (uploaded ones are kept).
        commit_message (`str`): the commit message.
        repo_type (`str`, *optional*, defaults to `"dataset"`): ``dataset`` or ``model``.

    Returns:
        `str`: the commit url.
    """
    logger.info("uploading %s to %s repo %s (files %s)", folder, repo_type, repo_id, allow_patterns)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type=repo_type,
        folder_path=str(folder),
        allow_patterns=allow_patterns,
        delete_patterns=delete_patterns,
        commit_message=commit_message,
    )
    return str(commit)

