"""Aggregates over jobs for summaries, plots and pages, computed in SQL (no web imports)."""
