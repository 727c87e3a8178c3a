"""`make bench`: speed and memory of the real code path on generated districts."""
