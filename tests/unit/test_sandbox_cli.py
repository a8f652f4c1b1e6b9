"""`dialer sandbox ACTION` offers every action the sandbox's own command knows."""

from __future__ import annotations

import pytest

from dialer.__main__ import parser
from dialer.sandbox.cli import ACTIONS


@pytest.mark.parametrize("action", ACTIONS)
def test_every_sandbox_action_is_accepted_on_the_command_line(action: str) -> None:
    assert parser().parse_args(["sandbox", action]).action == action


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["sandbox", "restart"])
