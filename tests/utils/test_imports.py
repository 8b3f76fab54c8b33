"""``after_import``: a callback run once a module is imported, without importing it first."""

import importlib
import sys

import pytest

from self_explain.utils.imports import after_import


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


@pytest.mark.parametrize(
    "package, light",
    [("utils", True), ("core", True), ("explainer", True), ("evaluation", True), ("hub", True)]
    + [("tasks.features", False), ("tasks.preferences", False)],
)
def test_a_package_exports_its_public_api_lazily(package, light):
    """Each name of ``_PUBLIC`` resolves to its module's object; a light package's import loads no torch."""
    import subprocess

    code = (
        "import sys, importlib\n"
        f"package = importlib.import_module('self_explain.{package}')\n"
        f"assert {not light} or 'torch' not in sys.modules, 'the package import loaded torch'\n"
        "for name, module in package._PUBLIC.items():\n"
        "    defining = importlib.import_module(module, package.__name__)\n"
        "    assert getattr(package, name) is getattr(defining, name), name\n"
        "assert set(package._PUBLIC) <= set(package.__all__) <= set(dir(package))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_name_outside_the_public_api_is_an_attribute_error():
    import self_explain.hub

    with pytest.raises(AttributeError, match="self_explain.hub.*no_such_name"):
        self_explain.hub.no_such_name  # noqa: B018
