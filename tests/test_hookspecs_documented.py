"""docs/plugins.md documents every hook in frs/hookspecs.py, with its arguments (datasette style:
one heading ``### name(arg, ...)`` per hook), and documents no hook that does not exist."""

import inspect
import re
from pathlib import Path

import pytest

from frs import hookspecs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HEADING = re.compile(r"^### (\w+)\((.*)\)\s*$", re.M)


def hookspec_signatures() -> dict[str, str]:
    """``{hook name: "arg, arg"}`` for every function the hookspec marker declared."""
    return {name: ", ".join(inspect.signature(func).parameters)
            for name, func in vars(hookspecs).items()
            if callable(func) and hasattr(func, "frs_spec")}


def documented() -> dict[str, str]:
    return {name: args.replace(" ", "").replace(",", ", ") for name, args in HEADING.findall(DOCS.read_text("utf-8"))}


def test_there_are_hookspecs_to_document():
    assert {"register_keystages", "register_rules", "select_pupil_source"} <= set(hookspec_signatures())


@pytest.mark.parametrize("hook", sorted(hookspec_signatures()))
def test_hook_is_documented_with_its_arguments(hook):
    docs = documented()
    assert hook in docs, f"docs/plugins.md has no '### {hook}(...)' section; document the hook there"
    assert docs[hook] == hookspec_signatures()[hook], (
        f"docs/plugins.md documents {hook}({docs[hook]}) but the hookspec is {hook}({hookspec_signatures()[hook]})")


def test_no_documented_hook_is_missing_from_the_hookspecs():
    headings = {name for name in documented() if not name[0].isupper()}  # class headings are not hooks
    stale = headings - set(hookspec_signatures())
    assert not stale, f"docs/plugins.md documents hooks that frs/hookspecs.py does not declare: {sorted(stale)}"
