"""dialer: call-centre automation for clinics, beside an Asterisk PBX."""

__version__ = "0.1.0"
