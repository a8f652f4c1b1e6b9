"""The AMI intake benchmark (`python -m bench.ami_intake`): the recorded stream, the variants, the full runtime."""
