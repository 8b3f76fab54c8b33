"""``after_import``: a callback run once a module is imported, without importing it first."""

import importlib
import sys

import pytest

from self_explain.core.imports import after_import


@pytest.fixture
def module_on_path(tmp_path, monkeypatch):
    (tmp_path / "watched_probe.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "watched_probe"
    sys.modules.pop("watched_probe", None)


def test_the_callback_runs_when_the_module_is_imported_not_before(module_on_path):
    seen = []
    after_import(module_on_path, lambda module: seen.append(module.VALUE))
    assert seen == [] and module_on_path not in sys.modules
    module = importlib.import_module(module_on_path)
    assert seen == [41] and module.VALUE == 41
    importlib.import_module(module_on_path)
    assert seen == [41], "once"


def test_the_callback_runs_at_once_for_a_module_already_imported(module_on_path):
    importlib.import_module(module_on_path)
    seen = []
    after_import(module_on_path, lambda module: seen.append(module.__name__))
    assert seen == [module_on_path]
