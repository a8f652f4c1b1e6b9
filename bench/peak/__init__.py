"""The peak-hour benchmark (`python -m bench.peak_hour`): callbacks by deadline vs in the order missed."""
