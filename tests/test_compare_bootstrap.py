"""compare's bootstrap medians come from the exact distribution of a resample's median, not
from building the resamples: the two agree for odd and even sizes, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from warehouse import compare


@pytest.mark.parametrize("values", [[1.0, 2, 4, 8, 16], [1.0, 2, 4, 8, 16, 32], [3.0, 3, 3, 5, 9, 9, 40, 41]])
def test_order_statistic_draws_match_resampled_medians(values, monkeypatch):
    values = np.array(values)
    monkeypatch.setattr(compare, "DRAWS", 200_000)
    drawn = compare._bootstrap_medians(values, np.random.default_rng(1))
    picks = np.random.default_rng(2).integers(0, len(values), size=(200_000, len(values)))
    resampled = np.median(values[picks], axis=1)
    # Both take a finite set of values: compare the probability of each. With 200,000 draws a
    # probability's standard error is at most 0.0011; 0.006 is over 5 of them (two samples).
    support = np.union1d(drawn, resampled)
    p_drawn = np.array([(drawn == v).mean() for v in support])
    p_resampled = np.array([(resampled == v).mean() for v in support])
    assert np.abs(p_drawn - p_resampled).max() < 0.006
