"""Which networks make up the population (notebook 08): families, recipes, seeds, a null group.

A family is one architecture; its members differ in recipe (epochs, dropout, learning
rate) and seed, so they are not independent observations and the statistics resample
families first. Untrained members (``epochs=0``, their random initial weights) form the
null group: what the score gives for networks that learned nothing.
"""

from __future__ import annotations

from xcorr_lib.common.checks import check_option
from xcorr_lib.nets.family import ModelSpec

__all__ = ["SIZES", "population"]

SIZES = ("smoke", "paper")

# paper: 10 FCN families (1-5 hidden layers, widths 16-512) and 3 CNN families of the paper's kind
_FCN_FAMILIES = [(16,), (64,), (256,), (512,), (64, 64), (256, 128), (512, 256), (128, 128, 128),
                 (64, 64, 64, 64), (32, 32, 32, 32, 32)]
_CNN_FAMILIES = [(8, 16), (16, 32), (32, 64)]
# (epochs, dropout, lr, seed offset): the paper's recipe, shorter training, no dropout, a smaller step
_FCN_RECIPES = [(1, 0.5, None, 0), (5, 0.5, None, 0), (20, 0.5, None, 0), (20, 0.0, None, 1), (20, 0.5, 0.02, 2)]
_CNN_RECIPES = [(1, 0.5, None, 0), (3, 0.5, None, 0), (10, 0.5, None, 0), (10, 0.0, None, 1)]
_UNTRAINED = [(64,), (256, 128), (64, 64, 64, 64), (32, 32, 32, 32, 32), (512,)]


def population(size: str = "paper", *, seed: int = 0) -> list[ModelSpec]:
    """The networks of a population, in a fixed order.

    ``"paper"``: 10 FCN families x 5 recipes + 3 CNN families x 4 recipes = 62 trained
    networks, plus 6 untrained (5 FCNs and the paper's CNN). ``"smoke"``: 12 networks
    (3 FCN families x 2 recipes, 1 small CNN family x 2, 4 untrained), trained for
    seconds. ``seed`` shifts every member's seed.
    """
    check_option("size", size, SIZES)
    if size == "smoke":
        fcn, cnn = [(32,), (64, 32), (16, 16, 16)], [(4, 8)]
        fcn_recipes, cnn_recipes = [(1, 0.5, None, 0), (3, 0.0, None, 1)], [(1, 0.5, None, 0), (2, 0.5, None, 1)]
        untrained_fcn, untrained_cnn = [(32,), (64, 32), (16, 16, 16)], [(4, 8)]
    else:
        fcn, cnn, fcn_recipes, cnn_recipes = _FCN_FAMILIES, _CNN_FAMILIES, _FCN_RECIPES, _CNN_RECIPES
        untrained_fcn, untrained_cnn = _UNTRAINED, [(32, 64)]
    specs = [ModelSpec("fcn", w, e, d, lr, seed + s) for w in fcn for e, d, lr, s in fcn_recipes]
    specs += [ModelSpec("cnn", w, e, d, lr, seed + s) for w in cnn for e, d, lr, s in cnn_recipes]
    specs += [ModelSpec("fcn", w, 0, 0.5, None, seed + 7) for w in untrained_fcn]
    specs += [ModelSpec("cnn", w, 0, 0.5, None, seed + 7) for w in untrained_cnn]
    return specs
