"""Comparing two sides (two tests, a template over two periods, one site against the
others of a test): per site and figure, both distributions, the difference of medians
with a bootstrap confidence interval, a test corrected for the number of comparisons,
and one verdict.

Only `stats` imports numpy and scipy; the rest imports it when a comparison is
computed, so that `hc`, the agents and the web's start-up do not pay for them.
"""
