"""The KOS dialling benchmark (`python -m bench.progressive`): progressive dialling by the service vs preview
dialling by hand."""
