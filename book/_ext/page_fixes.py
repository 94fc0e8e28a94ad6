"""Sphinx extension: each script once per page.

sphinx-thebe (loaded by Jupyter Book 1 even with thebe off) adds its inline configuration,
``const THEBE_JS_URL = ...``, while the environment is read; with Sphinx 7.4 that script ends up
twice on every page and the browser reports "Identifier 'THEBE_JS_URL' has already been
declared". Every page's script list is made unique here, keeping the first of each.
"""
from __future__ import annotations


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", str(script)) or ""  # an inline script: None or ""
    return (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # early: the event stops at the first handler that returns a template name
    app.connect("html-page-context", unique_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
