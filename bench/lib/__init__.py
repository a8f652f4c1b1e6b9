"""What every benchmark shares: the raw AMI observer, the service's lifecycle on the sandbox, the report's figures."""
