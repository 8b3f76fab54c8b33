"""What a run records of how it was made: the command line, as the tool's name when it is the tool."""

from self_explain.utils.version import command_line


def test_the_command_line_names_the_tool_and_quotes_its_arguments():
    tool = command_line(["/venv/bin/self-explain", "evaluate", "--task", "a b"])
    assert tool == "self-explain evaluate --task 'a b'"
    assert command_line(["/src/self_explain/cli.py", "demo"]) == "self-explain demo"
    assert command_line(["/usr/bin/pytest", "-q"]) == "pytest -q"
