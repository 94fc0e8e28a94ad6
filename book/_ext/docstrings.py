"""Sphinx extension: binn_lite's plain-text docstrings as reStructuredText, without editing them.

The docstrings are written to be read with ``help()``: numpydoc-like sections, but with the
description on the line of the name (``mean, std : pandas Series indexed by feature name``),
prose after a ``Parameters`` section, chapters with their own headings, ``|u|`` for an absolute
value and aligned tables. Docutils reads several of those as errors, and napoleon (which expects
``name : type`` with the description indented below) cannot parse the field lines. Before
autodoc renders a docstring, this extension rewrites it (the source files stay as they are):

1. every underlined heading becomes ``.. rubric::`` (a heading that is not a section, which
   docutils forbids inside a docstring);
2. in a field section (Parameters, Returns, Attributes, Raises, ...) every line
   ``names : description`` starts a bullet ``**names** : description``, its indented lines
   continue it, and the first unindented line of another kind ends the list;
3. ``|x|`` outside literals is escaped (not a substitution);
4. a paragraph ending in one ``:`` before an indented block makes that block literal
   (equations laid out by hand), as ``::`` does;
5. a simple table that docutils cannot parse (a cell wider than its column) is shown as a
   literal block, exactly as ``help()`` shows it.
"""
from __future__ import annotations

import re

_UNDERLINE = re.compile(r"^([-=~^\"'`#*+])\1{2,}\s*$")
_FIELD_SECTIONS = {"parameters", "other parameters", "returns", "yields", "attributes", "raises",
                   "warns", "keyword arguments", "receives"}
_FIELD = re.compile(r"^(\*{0,2}[\w.\[\]]+(?:,\s*\*{0,2}[\w.\[\]]+)*)\s+:\s*(.*)$")
_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")
_LITERAL = re.compile(r"(``.*?``|`[^`]*`_?|:\w+:`[^`]*`)")
_PIPE_WORD = re.compile(r"(?<![\\\w])\|(?=\S)([^|\n]*?\S)\|(?!\w)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def headings(lines: list[str]) -> list[str]:
    """Underlined headings -> rubrics; lines of field sections -> bullets (rules 1 and 2)."""
    out: list[str] = []
    in_fields = False
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if (line.strip() and _indent(line) == 0 and _UNDERLINE.match(following)
                and len(following.strip()) >= len(line.strip())):
            if out and out[-1].strip():
                out.append("")
            out += [f".. rubric:: {line.strip()}", ""]
            in_fields = line.strip().lower() in _FIELD_SECTIONS
            index += 2
            continue
        if in_fields and line.strip() and _indent(line) == 0:
            match = _FIELD.match(line)
            if match:
                if out and out[-1].strip() and not out[-1].startswith(("* ", "  ")):
                    out.append("")
                out.append(f"* **{match.group(1)}** : {match.group(2)}".rstrip())
            else:  # prose after the fields (or a bare type line under Returns)
                if out and out[-1].startswith(("* ", "  ")):
                    out.append("")
                out.append(line)
                in_fields = False
        elif in_fields and line.strip() and out and out[-1].startswith(("* ", "  ")):
            out.append("  " + line.strip())  # continuation of the bullet
        else:
            out.append(line)
        index += 1
    return out


def _escape_pipes(line: str) -> str:
    if line.lstrip().startswith(("|", "+")):  # a grid-table row
        return line
    parts = _LITERAL.split(line)
    return "".join(part if _LITERAL.fullmatch(part) else _PIPE_WORD.sub(r"\\|\1\\|", part) for part in parts)


def escape_pipes(lines: list[str]) -> list[str]:
    """``|u|`` -> ``\\|u\\|`` outside literals, roles and literal blocks (rule 3)."""
    out, literal_indent = [], None
    for line in lines:
        if literal_indent is not None and line.strip() and _indent(line) <= literal_indent:
            literal_indent = None
        out.append(line if literal_indent is not None else _escape_pipes(line))
        if literal_indent is None and line.rstrip().endswith("::"):
            literal_indent = _indent(line)
    return out


def literal_blocks(lines: list[str]) -> list[str]:
    """A paragraph ending in a single ``:`` before a blank line and an indented block gets ``::`` (rule 4)."""
    out = list(lines)
    for index in range(len(out) - 2):
        line = out[index]
        if (line.rstrip().endswith(":") and not line.rstrip().endswith("::") and line.strip()
                and not line.lstrip().startswith(("..", ":")) and not out[index + 1].strip()
                and out[index + 2].strip() and _indent(out[index + 2]) > _indent(line)):
            out[index] = line.rstrip() + ":"
    return out


def _fits_columns(block: list[str]) -> bool:
    """Does every row of a simple table keep to its columns? Text may run past the last column
    only, never across the gap between two columns (docutils: "Malformed table")."""
    border = block[0]
    gaps = [match.span() for match in re.finditer(r"(?<==)\s+(?==)", border)]
    return all(line[start:stop].strip() == "" for line in block if not _TABLE_BORDER.match(line)
               for start, stop in gaps)


def tables(lines: list[str]) -> list[str]:
    """Simple tables docutils rejects become literal blocks (rule 5)."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        if not _TABLE_BORDER.match(lines[index]):
            out.append(lines[index])
            index += 1
            continue
        border, end, seen = lines[index].strip(), index + 1, 1
        while end < len(lines) and seen < 3:  # a simple table has three borders (or two)
            seen += lines[end].strip() == border
            end += 1
            if seen == 2 and (end >= len(lines) or not lines[end].strip()):
                break
        block = lines[index:end]
        if _fits_columns(block):
            out += block
        else:
            if out and out[-1].strip():
                out.append("")
            out += ["::", ""] + ["    " + line for line in block] + [""]
        index = end
    return out


def rewrite(app, what, name, obj, options, lines: list[str]) -> None:
    """The ``autodoc-process-docstring`` handler: apply rules 1-5 to ``lines`` in place."""
    new = tables(escape_pipes(literal_blocks(headings(lines))))
    lines[:] = new


def setup(app):
    app.connect("autodoc-process-docstring", rewrite)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
