"""The fault matrix (issue 10): `make faults` runs it and prints its summary table."""
