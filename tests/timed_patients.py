"""Simulated patients who keep their own time (tests/asterisk/patients.conf, numbers 7 925 RR TT KK H).

They press keys on their own clock after answering, as people who know the menu do, never by watching our IVR.
Kept as data so that the same people can be rung over another network (a carrier) later.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timed:
    """Presses `keys` (one or two, in one go) `at` seconds after answering, then hangs up `after` seconds later
    (0 at once, 9 stays until the other side hangs up). `context` is the IVR a raw test rings it into."""

    at: float
    keys: str
    after: int
    context: str = "dialer-reminder"

    def number(self, run: str) -> str:
        """The patient's number without '+'; `run` (two digits) tells calls and runs apart."""
        return f"7925{run}{round(self.at * 10):02d}{self.keys:0<2}{self.after}"
