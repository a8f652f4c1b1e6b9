"""`python -m bench.amd`: the service's machine detector against app_amd's defaults, on answers played by the
sandbox's carrier over the real trunk (see __main__.py)."""
