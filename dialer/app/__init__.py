"""The only place that builds adapters and hands them to the engine (wiring, no decisions)."""

from dialer.app.parts import Pbx, Runtime
from dialer.app.process import ami_pbx, open_runtime, run_core, stop_core
from dialer.app.web_server import build_web_app, web_server

__all__ = [
    "Pbx",
    "Runtime",
    "ami_pbx",
    "build_web_app",
    "open_runtime",
    "run_core",
    "stop_core",
    "web_server",
]
