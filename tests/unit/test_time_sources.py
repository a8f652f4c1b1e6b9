"""The Clock is the only way the service reads or waits for time (design.md §3.1).

Outside `dialer/core/clock.py`, and the sandbox's control of Asterisk's process (synchronous code that runs
before the service's loop exists), no module may read the host's clock or sleep for a span on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dialer"
ALLOWED = {PACKAGE / "core" / "clock.py", *(PACKAGE / "sandbox").glob("*.py")}
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "sleep"),
    ("loop", "time"),
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)  # asyncio.get_running_loop().time()
    return ""


def _is_zero(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (0, 0.0)


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Each place in `source` that reads the host's clock or sleeps a span without the Clock."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner, attr = _name(node.func.value), node.func.attr
        if owner == "get_running_loop" or owner == "get_event_loop":
            owner = "loop"
        if (owner, attr) in FORBIDDEN_CALLS:
            found.append(f"{filename}:{node.lineno}: {owner}.{attr}()")
        elif (owner, attr) == ("asyncio", "sleep") and not (node.args and _is_zero(node.args[0])):
            found.append(f"{filename}:{node.lineno}: asyncio.sleep with a delay")
    return found


def test_the_checker_finds_each_kind_of_clock_read() -> None:
    sample = """
import asyncio, time
from datetime import datetime, date
async def f(loop):
    await asyncio.sleep(1)
    await asyncio.sleep(0)
    datetime.now()
    date.today()
    time.time()
    time.monotonic()
    loop.time()
    asyncio.get_running_loop().time()
"""
    found = violations(sample)
    assert len(found) == 7, found
    assert not any(":6:" in line for line in found)  # sleep(0) only yields


def test_the_service_takes_time_only_from_its_clock() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path not in ALLOWED:
            found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert found == [], "read or wait for time through the Clock:\n" + "\n".join(found)
