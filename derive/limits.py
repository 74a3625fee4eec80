"""derive's bounds and defaults, and the errors for going past them, in plain Python (no SymPy):
the command line states and reports them without loading the engine."""

from __future__ import annotations

# Closed forms are made for networks up to this many trained parameters (10-8-2 with biases has
# 106; 8-8-8 has 144 and takes about half a second); past it they are too long to read.
CLOSED_FORM_MAX_PARAMETERS = 150

# The iteration table: one run per learning rate, this many updates each.
LEARNING_RATES = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
STEPS = 50
MAX_STEPS = 100_000

# derive check: relative tolerance beyond the digits a sheet's value carries.
DEFAULT_TOLERANCE = 1e-6


class TooLarge(ValueError):
    """A network too large for closed forms; the message is one line."""


class TableError(ValueError):
    """Table settings that cannot be used; the message is one line."""
