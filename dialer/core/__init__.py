"""The pure core: value types, time, policies and the call tracker. No I/O lives here."""
