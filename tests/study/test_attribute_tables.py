"""Seed-spread table of the attribute study: means, spreads and tie verdicts by hand."""
import numpy as np

from lmle_core.study.attribute_tables import seed_spread


def test_seed_spread_means_spreads_and_verdicts():
    table = seed_spread({"Softmax": {0: 74.0, 1: 73.0, 2: 74.5},       # mean 73.833, spread 1.5
                         "Triplet-kNN": {0: 70.0, 1: 70.2, 2: 69.9},   # mean 70.033, spread 0.3
                         "LMLE-kNN": {0: 73.3, 1: 73.9, 2: 73.6}})     # mean 73.6, spread 0.6
    t = table.set_index("method")
    assert list(table.columns[:4]) == ["method", "seed 0", "seed 1", "seed 2"]
    np.testing.assert_allclose(t["mean"], [73.8333333, 70.0333333, 73.6], atol=1e-6)
    np.testing.assert_allclose(t["spread (max - min)"], [1.5, 0.3, 0.6], atol=1e-9)
    # LMLE - Softmax = -0.233, within Softmax's spread 1.5: a tie; LMLE - Triplet = 3.567 > 0.6: better
    assert t.loc["Softmax", "verdict"] == "tie"
    assert t.loc["Triplet-kNN", "verdict"] == "LMLE-kNN better"
    assert abs(t.loc["Triplet-kNN", "LMLE-kNN minus method"] - 3.5666667) < 1e-6
    assert t.loc["LMLE-kNN", "verdict"] == "" and np.isnan(t.loc["LMLE-kNN", "LMLE-kNN minus method"])


def test_seed_spread_worse_beyond_the_spread():
    t = seed_spread({"Softmax": {0: 80.0, 1: 80.4}, "LMLE-kNN": {0: 75.0, 1: 75.2}}).set_index("method")
    assert t.loc["Softmax", "verdict"] == "LMLE-kNN worse"
