"""The dialler efficiency benchmark (`python -m bench.dialer_efficiency`): a campaign against the ideal dialler."""
