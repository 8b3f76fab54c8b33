"""A griffe extension for ``make docs``: reads Hugging Face-style docstrings as Google-style ones.

HF docstrings are Google-style with types written for a reader: ``name (`int`, *optional*, defaults to 3):`` in
``Args:`` and ``` `dict`: The report.``` in ``Returns:``. griffe's Google parser takes everything in the parentheses
as the type, so the page would show the backticks and the *optional* text in the type column. This rewrites the
docstring's text before it is parsed: the type without its backticks (`, optional` kept, since griffe reads it), the
default left to the signature's (shown in its own column), Sphinx roles (``:func:`~a.b```) and HF's links
(``[`~a.b`]``) as code, and doctest lines (``>>>`` and their output) as a code block, not as Markdown text.
"""

from __future__ import annotations

import re

from griffe import Extension, Object

SECTIONS = re.compile(r"^(?P<indent>\s*)(Args|Arguments|Parameters|Attributes|Keyword Args|Other Parameters):\s*$")
RETURNS = re.compile(r"^(?P<indent>\s*)(Returns|Yields):\s*$")
ITEM = re.compile(r"^(?P<indent>\s*)(?P<name>\*{0,2}[A-Za-z_][\w.]*) \((?P<type>.+?)\):(?P<rest>\s.*|)$")
RETURN_TYPE = re.compile(r"^(?P<indent>\s*)(?P<type>`[^`:]+`(?: or None| or `[^`:]+`)*):(?P<rest>\s.*|)$")
ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|obj|exc|const):`~?(?P<target>[^`]+)`")
HF_LINK = re.compile(r"\[`(?P<tilde>~?)(?P<target>[\w.]+)`\]")  # HF's [`~trl.SFTConfig`]


def _hf_link(match: re.Match) -> str:
    return f"`{match['target'].rsplit('.', 1)[-1] if match['tilde'] else match['target']}`"


def _role(match: re.Match) -> str:
    target = match["target"]
    return f"`{target.rsplit('.', 1)[-1] if '`~' in match.group(0) else target}`"


def plain_type(written: str) -> str:
    """An HF-style type clause (```str`, *optional*, defaults to ``"a"```) as griffe's (``str, optional``)."""
    parts = [part.strip() for part in re.split(r",\s*(?=\*optional\*|defaults to|default )", written)]
    kind = parts[0].replace("`", "")
    return f"{kind}, optional" if any(part == "*optional*" for part in parts[1:]) else kind


def rewrite(text: str) -> str:
    """The docstring ``text`` with HF-style item types and Sphinx roles in the form griffe's Google parser reads."""
    lines, section, item_indent = text.split("\n"), None, None
    for index, line in enumerate(lines):
        if SECTIONS.match(line) or RETURNS.match(line):
            section, item_indent = ("returns" if RETURNS.match(line) else "items"), None
            continue
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if section and item_indent is None:
            item_indent = indent
        if section and indent < item_indent:
            section = None
        if section == "items" and indent == item_indent and (match := ITEM.match(line)):
            lines[index] = f"{match['indent']}{match['name']} ({plain_type(match['type'])}):{match['rest']}"
        elif section == "returns" and indent == item_indent and (match := RETURN_TYPE.match(line)):
            lines[index] = f"{match['indent']}{match['type'].replace('`', '')}:{match['rest']}"
            section = None  # the rest of the block is the one value's description
    return HF_LINK.sub(_hf_link, ROLE.sub(_role, "\n".join(_fenced_doctests(lines))))


def _fenced_doctests(lines: list[str]) -> list[str]:
    """Each run of doctest lines (from a ``>>>`` line to the next blank one) inside a ``pycon`` fence."""
    fenced, in_fence, in_doctest = [], False, False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_doctest and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            fenced.append(f"{indent}```pycon")
            in_doctest = True
        elif in_doctest and not stripped:
            fenced.append(f"{indent}```")
            in_doctest = False
        fenced.append(line)
    if in_doctest:
        fenced.append(f"{indent}```")
    return fenced


class HFDocstrings(Extension):
    """Rewrites every object's docstring (see the module's docstring) once the tree is loaded."""

    def on_object(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
