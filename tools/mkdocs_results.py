"""A mkdocs hook for ``make docs``: the committed results pages and plots join the site under ``results/``.

``make results`` writes each ``results/**/*.json``'s Markdown page (and an experiment's ``scaling.png``) beside it, at
the repository's top level. This adds those files to the site at the same paths, so that a page links
``results/ablation/results.md`` as the README does, and the pages are not copied into ``docs/``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("*.md", "*.png")


def on_files(files: Files, config) -> Files:
    """Add every Markdown page and plot under ``results/`` (not the single runs in ``runs/``)."""
    for kind in KINDS:
        for path in sorted((ROOT / "results").rglob(kind)):
            relative = path.relative_to(ROOT)
            if "runs" in relative.parts or files.get_file_from_path(relative.as_posix()):
                continue
            files.append(File(relative.as_posix(), str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files
