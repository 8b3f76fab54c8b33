"""Hub I/O: the dataset repo layout, cards from templates, and the one upload function.

``_PUBLIC`` is the public API (documented in the Hugging Face style); a name is imported from its module on first use.
"""

from ..utils.imports import lazy_exports

_PUBLIC = {
    "upload_folder": ".api",
    "HubUnreachableError": ".api",
    "write_dataset_repo": ".datasets",
    "push_dataset": ".datasets",
    "folder_lock": ".datasets",
    "FolderBusyError": ".datasets",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = sorted(_PUBLIC)
