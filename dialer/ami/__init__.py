"""AMI adapter on panoramisk: one connection, lean event intake, Originate exactly once, reconciliation."""
