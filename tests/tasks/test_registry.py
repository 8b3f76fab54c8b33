"""The task registry: the built-in task folders are imported on its first use, in the order the package adds them,
whichever folder was imported first."""

import json
import os
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
