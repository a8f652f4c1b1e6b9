"""The pop-up latency benchmark (`python -m bench.popup_latency`): pushes over WebSockets vs 1 s polling."""
