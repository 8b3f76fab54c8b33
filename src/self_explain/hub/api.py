"""The one door to the Hub: an authenticated client and the one upload function."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import HfApi

logger = logging.getLogger(__name__)


def hub_api(token: str | None = None) -> HfApi:
    """The Hub client every self-explain call uses (tests patch ``self_explain.hub.api.HfApi``)."""
    return HfApi(token=token)


NO_TOKEN = "no Hugging Face token: run `hf auth login` or set HF_TOKEN"


class HubUnreachableError(ConnectionError):
    """The Hub could not be reached (no network, a proxy, a time-out): the message says what was being done."""


def require_token(option: str, token: str | None = None) -> None:
    """Refuse a push before any work when no Hugging Face token is available (never showing the token)."""
    from huggingface_hub import get_token

    if not (token or get_token()):
        raise ValueError(f"{option}: {NO_TOKEN}")


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed connection raises: the HTTP client's transport errors (httpx or its successor) and the OS's."""
    import importlib

    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        errors.append(getattr(found, "TransportError", None) or found.exceptions.ConnectionError)
    return tuple(errors)


@contextmanager
def hub_errors(action: str, kept: str | Path | None = None) -> Iterator[None]:
    """Turn a network failure or a refused token inside the block into one clear error."""
    from huggingface_hub.errors import HfHubHTTPError

    also = f"; the local files in {kept} are kept" if kept else ""
    try:
        yield
    except HubUnreachableError:
        raise
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status not in (401, 403):
            raise
        raise ValueError(
            f"the Hub refused to {action} (HTTP {status}): the token is invalid or may not write there; "
            f"run `hf auth login` with a write token{also}"
        ) from error
    except _network_errors() as error:
        raise HubUnreachableError(
            f"cannot reach the Hugging Face Hub to {action} ({type(error).__name__}: {error}); "
            f"check the network connection and try again{also}"
        ) from error


def upload_folder(
    api: HfApi,
    *,
    repo_id: str,
    folder: str | Path,
    allow_patterns: list[str],
    delete_patterns: list[str] | None,
    commit_message: str,
    repo_type: str = "dataset",
    shown: str | Path | None = None,
) -> str:
    """The one place that uploads to the Hub; returns the commit url.

    Args:
        repo_id (`str`): The repo, ``owner/name``.
        folder (`str` or `Path`): The local folder to upload from.
        allow_patterns (`list[str]`): The files of ``folder`` to upload.
        delete_patterns (`list[str]` or `None`): Remote files to delete in the same commit (uploaded ones are kept).
        repo_type (`str`): ``dataset`` or ``model``.
        shown (`str` or `Path`, *optional*): The source the log names (default: ``folder``), e.g. the user's folder
            for a temporary staging one.
    """
    logger.info("uploading %s to %s repo %s (files %s)", shown or folder, repo_type, repo_id, allow_patterns)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type=repo_type,
        folder_path=str(folder),
        allow_patterns=allow_patterns,
        delete_patterns=delete_patterns,
        commit_message=commit_message,
    )
    return str(commit)
