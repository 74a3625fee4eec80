"""What one table's check finds: each wrong cell an Issue (cells with the same mistake are grouped
into a Finding later), and the Verdict that holds them with what was covered."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One wrong cell, before cells with the same mistake are grouped."""

    key: str
    label: str
    row: int
    column: int
    kind: str
    sheet_value: float | str | None
    correct_value: float | None
    correct_formula: str
    formula: int  # the formula's index in the table, -1 for a typed value
    diagnosis: str


@dataclass
class Verdict:
    """What one table's check found and covered."""

    issues: list[Issue] = field(default_factory=list)  # at most MAX_LISTED a finding
    unlisted: Counter = field(default_factory=Counter)  # finding key -> wrong cells past those
    checked: int = 0
    columns: list[str] = field(default_factory=list)  # labels of the columns checked
    updates: str = ""  # how the weight updates were checked, or why not
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
