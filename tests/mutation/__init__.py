"""`make mutation`: mutation testing of the modules that decide whether a dangerous sync is applied."""
