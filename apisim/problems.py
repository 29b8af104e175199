"""What can be wrong with an input, said so a person can act on it: file, line, field, what is allowed.

Every check in apisim (the schema, references between sections, trace files, the size of a run)
reports :class:`Problem` values; they are raised together as one :class:`ScenarioError`, whose
text is the whole user-facing explanation. This module imports nothing from apisim, so every
layer can report problems the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Loc = tuple[str | int, ...]

SHOWN = 50
"""Problems an error lists; more are counted (a file with thousands is one mistake repeated)."""
"""A field path in a scenario: ``("clients", 0, "arrival", "rate")``."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located."""

    loc: Loc
    message: str
    line: int | None = None
    value: Any = None

    @property
    def path(self) -> str:
        return ".".join(str(p) for p in self.loc) or "(top level)"

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        shown = _short(self.value)
        got = "" if self.value is None or f"got {shown}" in self.message else f" (got {shown})"
        return f"{where}: {self.path}: {self.message}{got}"


class ScenarioError(Exception):
    """An input that cannot be used; ``str()`` is the full user-facing explanation."""

    def __init__(self, source: str, problems: list[Problem], *, where: str = "in the scenario") -> None:
        self.source = source
        self.problems = problems
        self.where = where
        n = len(problems)
        head = f"{source}: {n:,} problem{'s' if n != 1 else ''} {where}"
        lines = ["  " + p.render(source) for p in problems[:SHOWN]]
        if n > SHOWN:
            lines.append(f"  ... and {n - SHOWN:,} more")
        super().__init__("\n".join([head, *lines]))

    def __reduce__(self) -> tuple[Any, ...]:
        # Why: a worker process (a sweep's, a month's) raises these, and the parent must get the same
        # located error back; the default pickling calls __init__ with the message alone, which fails
        # in the parent and breaks the whole pool (a traceback instead of the error and exit 2).
        return _restore, (type(self), str(self), self.__dict__)


def _restore(cls: type[ScenarioError], text: str, state: dict[str, Any]) -> ScenarioError:
    """A pickled :class:`ScenarioError` (any subclass) as it was: its text and its fields."""
    error = Exception.__new__(cls)
    Exception.__init__(error, text)
    error.__dict__.update(state)
    return error


class ScenarioErrors(ScenarioError):
    """Several inputs' problems, reported together (a report reads every file before it says no)."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        self.source = ", ".join(e.source for e in errors)
        self.problems = [p for e in errors for p in e.problems]
        Exception.__init__(self, "\n".join(str(e) for e in errors))


class EngineUnavailable(ScenarioError):
    """``simulation.engine: compiled`` for a scenario the compiled kernel does not cover; the message
    names the feature (the Python engine runs every scenario)."""


class RunTooLarge(ScenarioError):
    """A run (or study) that would need more time or memory than apisim allows without ``force``.

    The message gives the estimate, the limit and how to go ahead anyway.
    """


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        text = f"a number of about {value.bit_length() * 0.30103:.0f} digits" if isinstance(value, int) else "?"
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Origin:
    """Where a scenario came from: the file as the user named it, and the line of each field.

    Kept with the validated scenario so that checks made later (the size of a run after
    ``--duration``, a trace file) still name the file and the line.
    """

    source: str
    lines: Mapping[Loc, int] = field(default_factory=dict)
    digest: str = ""  # SHA-256 of the file's bytes as read ("" for a scenario built in code)

    def line(self, loc: Loc) -> int | None:
        """The line of the deepest written field along ``loc``."""
        for end in range(len(loc), -1, -1):
            found = self.lines.get(tuple(loc[:end]))
            if found is not None:
                return found
        return None

    def error(self, found: Iterable[tuple[Loc, str, Any]], kind: type[ScenarioError] = ScenarioError) -> ScenarioError:
        """``(location, message, value)`` triples as one located error."""
        return kind(self.source, [Problem(loc, msg, self.line(loc), value) for loc, msg, value in found])


IN_CODE = Origin("<scenario>")
"""The origin of a scenario built in code (no file, no lines)."""
