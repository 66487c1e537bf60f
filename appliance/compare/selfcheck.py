"""A comparison of synthetic samples, run by the image build after it trimmed numpy and
scipy (containers/trim-packages.sh): the build fails when something in use went."""
from __future__ import annotations


def run() -> None:
    import numpy as np

    from appliance.compare import stats

    rng = np.random.default_rng(1)
    for n in (30, 3000):  # both ways of bootstrapping
        row = stats.distributions(rng.normal(0, 1, n), rng.normal(1, 1, n), rng)
        assert row.p is not None and row.p < 1e-3 and row.ci[0] > 0, row
    assert stats.proportions(90, 10, 60, 40).p < 1e-3
    assert stats.adjust([0.01, 0.02]) == [0.02, 0.02]
