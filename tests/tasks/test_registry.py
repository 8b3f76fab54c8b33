"""The task registry: the built-in task folders are imported on its first use, in the order the package adds them,
whichever folder was imported first."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from self_explain.tasks.registry import TaskRegistry

SRC = Path(__file__).parents[2] / "src"


def _registered_after(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    program = code + "\nimport json, sys, self_explain\nprint(json.dumps({'tasks': list(self_explain.TASKS)}))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_order_is_the_packages_whichever_task_folder_is_imported_first():
    expected = ["ablation", "features", "patching", "preferences"]
    assert _registered_after("import self_explain")["tasks"] == expected
    assert _registered_after("import self_explain.tasks.preferences.config")["tasks"] == expected
    assert _registered_after("import self_explain.tasks.features.sae_training")["tasks"] == expected


def test_a_module_that_fails_to_import_stays_pending_and_fails_again():
    registry = TaskRegistry()
    registry.add_modules("no_such_task_module_anywhere")
    for _ in range(2):
        try:
            list(registry)
        except ModuleNotFoundError as error:
            assert "no_such_task_module_anywhere" in str(error)
        else:
            raise AssertionError("the missing module was not imported")
    assert registry.modules == ("no_such_task_module_anywhere",)


def test_no_module_outside_a_task_folder_imports_one():
    """Adding a task is one folder: only the package root (which lists the built-in folders) and the command line's
    ``train-sae`` (the features task's SAE training) name a task folder's modules."""
    package = SRC / "self_explain"
    folders = [path.parent.name for path in (package / "tasks").glob("*/task.py")]
    assert sorted(folders) == ["ablation", "features", "patching", "preferences"]
    pattern = re.compile(r"tasks[./](" + "|".join(folders) + r")\b")
    in_a_folder = {path for folder in folders for path in (package / "tasks" / folder).rglob("*.py")}
    naming = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path not in in_a_folder
        and path != package / "tasks" / "registry.py"  # its docstring's example
        and pattern.search(path.read_text(encoding="utf-8"))
    )
    assert naming == ["__init__.py", "cli.py"]
