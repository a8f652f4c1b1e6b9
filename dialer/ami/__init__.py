"""AMI adapter: one connection on its own protocol, lean event intake, Originate exactly once, reconciliation."""
