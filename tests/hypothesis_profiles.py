"""Hypothesis profiles: the test command runs the same cases every time; a long random run is a choice.

- ``ci`` (the default): derandomized (each test's cases come from a hash of the test, not from chance) and
  without the example database, so a verdict never depends on luck or on what an earlier run remembered.
  Every case that ever failed is kept in the test as an explicit ``@example``.
- ``long``: random cases, many of them, with the example database: for hunting new failures, e.g.
  ``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/integration/test_api_fuzz.py``. Turn what it finds
  into an ``@example`` and a fix.
"""

from __future__ import annotations

import os

from hypothesis import settings

CI, LONG = "ci", "long"
LONG_EXAMPLES = 1000

settings.register_profile(CI, derandomize=True, database=None, print_blob=True)
settings.register_profile(LONG, derandomize=False, max_examples=LONG_EXAMPLES, print_blob=True)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", CI)
settings.load_profile(PROFILE)


def examples(usual: int) -> int:
    """A fuzz test's number of cases: its usual count in the test command, more in the long profile."""
    return max(usual, settings().max_examples) if PROFILE == LONG else usual
