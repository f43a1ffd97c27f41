"""Named budget presets: what the notebooks and profiles used to write out, in one place."""
import pytest

from lmle_core.methods.budget import PRESETS, Budget
from lmle_core.study import config
from lmle_core.study.value_ranges import Declared

# the dict the attribute notebooks' parameters cells wrote out before the preset (LMLE's CelebA protocol)
CELEBA_PAPER = {"prior_iters": 20000, "prior_batch_size": 128, "prior_lr": 0.01, "iters_per_round": 5000,
                "max_rounds": 4, "patience": 1, "batch_size": 40, "softmax_batch_size": 200, "lr": 0.01,
                "cluster_size": 200, "knn_k": 20, "subset_fraction": 0.5, "trunk": "train"}
# the quick profile's frozen-trunk CelebA budget, written out in six of its entries
CELEBA_FROZEN = {"prior_iters": 400, "prior_batch_size": 128, "prior_lr": 0.01, "iters_per_round": 150,
                 "max_rounds": 2, "patience": 2, "batch_size": 40, "softmax_batch_size": 200, "lr": 0.01,
                 "cluster_size": 200, "knn_k": 20, "subset_fraction": 0.5, "trunk": "frozen"}


@pytest.mark.parametrize("name, written_out", [("celeba-paper", CELEBA_PAPER), ("celeba-frozen", CELEBA_FROZEN),
                                                ("paper", {})])
def test_a_preset_is_the_budget_it_replaces(name, written_out):
    assert Budget.from_dict({"preset": name}) == Budget.from_dict(written_out)


def test_fields_given_beside_a_preset_override_it():
    b = Budget.from_dict({"preset": "celeba-paper", "knn_k": 5, "trunk": "frozen"})
    assert (b.knn_k, b.trunk, b.prior_iters) == (5, "frozen", 20000)


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="celeba-fast"):
        Budget.from_dict({"preset": "celeba-fast"})
    budget = Declared("budget", dict, {"preset": "celeba-paper"})
    assert "celeba-fast" in config.check_value("budget", {"preset": "celeba-fast"}, budget)
    assert config.check_value("budget", {"preset": "celeba-frozen", "knn_k": 5}, budget) is None
    assert "knn" in config.check_value("budget", {"preset": "celeba-frozen", "knn": 5}, budget)


def test_every_preset_names_real_fields():
    for name, values in PRESETS.items():
        Budget.from_dict({"preset": name})          # a misspelled field would raise here
        assert set(values) <= set(Budget.__dataclass_fields__), name
