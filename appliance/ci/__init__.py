"""`hc run`: run a test, wait for it, and judge it against thresholds (for CI)."""
