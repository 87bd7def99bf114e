"""The error model: every finding about an upload is an :class:`Issue`; a run yields a :class:`Report`.

Issue codes are namespaced ``<owner>.<kebab-code>``. The kernel owns ``upload.*`` (the gate),
``template.*`` (structure), ``pupil.*`` (the pupil columns) and ``cell.*`` (generic cell checks);
a plugin's codes start with its own plugin name (``ks5_alevel.invalid-result``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

ERROR = "error"
WARNING = "warning"


#: the characters xlsx XML cannot hold and PostgreSQL refuses in part: C0 controls but tab,
#: newline and carriage return, and DEL. One definition for the gate, the validator and writers.
CONTROL_CODES = (*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f)
_CONTROL = {c: "?" for c in CONTROL_CODES}


def visible(text: str) -> str:
    """``text`` with each control character shown as "?"."""
    return text.translate(_CONTROL)


def shown_value(text: str, limit: int = 200) -> str:
    """A cell's text as an issue shows it: control characters made visible as "?" (they cannot
    go into xlsx XML, and PostgreSQL refuses NUL), and cut to ``limit`` characters."""
    return visible(text[:limit])


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding, located the way a school data manager sees the sheet.

    ``row`` is the row number Excel shows (1-based); ``column`` is the column letter.
    ``message`` is plain English and says how to fix the problem.
    """

    code: str
    message: str
    severity: str = ERROR
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    header: str | None = None
    upn: str | None = None
    value: str | None = None
    plugin: str = "frs"

    def __post_init__(self) -> None:
        # whatever a plugin puts in an issue is stored (PostgreSQL refuses NUL) and written to
        # xlsx (which cannot hold control characters), so make them visible here, once
        if self.value is not None:
            object.__setattr__(self, "value", shown_value(str(self.value)))
        object.__setattr__(self, "message", visible(self.message))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self) -> tuple:
        return (self.row or 0, column_index(self.column) if self.column else 0, self.code)


@dataclass
class Report:
    """The outcome of validating one file."""

    issues: list[Issue] = field(default_factory=list)
    keystage: str | None = None
    pupils: int = 0
    filename: str | None = None
    #: builds the pupil records on first use (validation alone never pays for them)
    records_factory: Callable[[], list[dict[str, Any]]] | None = field(default=None, repr=False)
    _records: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def records(self) -> list[dict[str, Any]]:
        """Pupil rows as plain values, for storage and analysis; not serialised to JSON."""
        if self._records is None:
            self._records = self.records_factory() if self.records_factory else []
        return self._records

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    @property
    def valid(self) -> bool:
        return not self.errors

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "keystage": self.keystage,
            "filename": self.filename,
            "pupils": self.pupils,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [i.to_dict() for i in self.issues],
        }


def plural(n: int, word: str) -> str:
    """``plural(1, "error")`` -> "1 error"; ``plural(2, "error")`` -> "2 errors"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def column_letter(index: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """Excel letters -> 0-based column index (A -> 0)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1
