"""The audit of notebook 05: how much of the score is signal, how stable it is across
seeds, whether it predicts robustness, and how it compares with CKA and friends.

Submodules (each function is pure over activations or models, and testable):

- :mod:`.null`: null baselines (shuffled probes, untrained networks) and score vs probe
  count and probe kind (:func:`null_calibration`, :func:`probe_size_table`);
- :mod:`.runs`: several seeds, the transfer attack and the alignment-vs-robustness test
  (:func:`seed_runs`, :func:`seed_variability`, :func:`alignment_vs_robustness`);
- :mod:`.compare`: the paper's score beside the measures of :mod:`xcorr_lib.measures`
  (:func:`measures_table`, :func:`measure_agreement`);
- :mod:`.plots`: the figures; :mod:`.text`: the notebook's answers, numbers from the tables.
"""

from __future__ import annotations

from xcorr_lib.measures.agreement import measure_agreement

from .compare import measures_table
from .null import (NULL_KINDS, null_calibration, pair_label, probe_indices,
                   probe_size_table, score_curve)
from .plots import (plot_alignment, plot_measures, plot_null_calibration, plot_probe_size,
                    plot_seed_variability)
from .text import (describe_alignment, describe_measures, describe_null, describe_nulls, describe_probe_size,
                   describe_seeds)
from .runs import (alignment_points, alignment_vs_robustness, seed_runs,
                   seed_variability, train_seeds, untrained_models)

__all__ = [
    "NULL_KINDS", "alignment_points", "alignment_vs_robustness", 
    "describe_alignment", "describe_measures", "describe_null", "describe_nulls", "describe_probe_size",
    "describe_seeds",
    "measure_agreement", "measures_table", "null_calibration",
    "pair_label", "plot_alignment", "plot_measures", "plot_null_calibration", "plot_probe_size",
    "plot_seed_variability", "probe_indices", "probe_size_table", "score_curve", "seed_runs",
    "seed_variability", "train_seeds", "untrained_models",
]
