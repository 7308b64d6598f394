"""Creative logic: pure functions, no Dagster, no I/O."""
