"""The operator's command line, `python -m sis_sync.admin`: list, onboard, poll, offboard districts
of a deployed stack (`--stack NAME`) or of the devstack (its environment)."""
