"""Sphinx configuration of the lessdask API reference, built from the numpydoc docstrings.

Build from the repository root (``pip install -e '.[docs]'`` first)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Only the ``.rst`` pages here are Sphinx sources; the Markdown pages (science.md, speed.md,
design.md, testcases/, reference/) are read on GitHub and are excluded. Nothing is fetched
from the network (no intersphinx).
"""

import importlib
import inspect
import os
import re
import sys

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, os.path.abspath(".."))  # document the source tree, installed or not

import lessdask  # noqa: E402

project = "lessdask"
author = "lessdask developers"
copyright = "2026, lessdask developers"
version = release = lessdask.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "numpydoc",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "*.md", "**/*.md", "*.json", "**/*.json"]
templates_path = []
html_static_path = []
html_theme = "alabaster"
html_title = f"lessdask {release}"

# autodoc: the docstrings carry the types (numpydoc sections), so signatures stay plain
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
autodoc_preserve_defaults = True

# numpydoc: no per-class member tables (autodoc lists the members), no docstring validation
# in the build (a warnings-as-errors doc build fails on broken markup, not on style)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# `name` in a docstring is code, as in the rest of the scientific Python stack
default_role = "literal"


# ---------------------------------------------------------------- local helpers

_METADATA_REQUEST = re.compile(r"set_\w+_request$")


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing setters (``set_fit_request``, ...)."""
    return True if _METADATA_REQUEST.match(name) else None


def _has_attr_doc(modname, name):
    """Whether ``modname.name`` has a ``#:`` doc comment (only then autodoc documents it)."""
    try:
        return ("", name) in ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:  # noqa: BLE001 - a module without source
        return False


def _home(package, name, obj):
    """Where ``obj`` is documented: its ``__module__`` for functions and classes; for data, the
    lessdask module that gives it a ``#:`` comment, else one that holds it."""
    if inspect.isclass(obj) or callable(obj):
        mod = getattr(obj, "__module__", None) or ""
        if mod.startswith("lessdask"):
            return mod
    holders = sorted(m for m, module in list(sys.modules.items())
                     if m.startswith("lessdask.") and module is not None and getattr(module, name, None) is obj)
    for m in holders:
        if _has_attr_doc(m, name):
            return m
    under = [m for m in holders if m.startswith(package + ".")]
    return (under or holders or [package])[0]


class Reexports(SphinxDirective):
    """``.. lessdask-reexports:: package``: the names of ``package.__all__``, each linked to
    where it is documented, so the list follows the code."""

    required_arguments = 1

    def run(self):
        package = self.arguments[0]
        pkg = importlib.import_module(package)
        lines = [f"Importable as ``{package}.NAME``:", ""]
        for name in pkg.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(pkg, name)
            role = "class" if inspect.isclass(obj) else "func" if callable(obj) else "data"
            home = _home(package, name, obj)
            if role == "data" and not _has_attr_doc(home, name):
                lines.append(f"* ``{name}`` (in ``{home}``)")  # no ``#:`` comment: nothing to link to
            else:
                lines.append(f"* :py:{role}:`{name} <{home}.{name}>`")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=f"<names of {package}>"), self.content_offset, container)
        return container.children


def _resolve_reexport(app, env, node, contnode):
    """Resolve a package-level name as users import it (``lessdask.analysis.phase_fractions``)
    to where it is documented (``lessdask.analysis.fractions.phase_fractions``)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    candidates = [target] + ([f"{node['py:module']}.{target}"] if node.get("py:module") else [])
    for cand in candidates:
        if not cand.startswith("lessdask"):
            continue
        modname, _, name = cand.rpartition(".")
        try:
            obj = getattr(importlib.import_module(modname), name)
        except (ImportError, AttributeError, ValueError):
            continue
        new = f"{_home(modname, name, obj)}.{name}"
        if new != cand:
            res = env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"], new, node,
                                                    contnode)
            if res is not None:
                return res
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_reexport)
    app.add_directive("lessdask-reexports", Reexports)
