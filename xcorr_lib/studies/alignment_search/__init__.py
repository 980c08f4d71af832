"""Notebook 06: Model Alignment Search and linear stitching beside the correlational measures.

- :mod:`.control`: the untrained-copy sanity check (:func:`untrained_control`, :func:`pair_iia`);
- :mod:`.compare`: the pair tables, rankings, figure and prose;
- :mod:`.report`: the notebook's sections (run a step, or say what its table shows).

The methods themselves live in :mod:`xcorr_lib.measures.mas` and :mod:`xcorr_lib.measures.stitching`.
"""

from __future__ import annotations

from .compare import (MEASURE_COLUMNS, attack_agreement, describe_mas, load_attack_degradation, mas_comparison,
                      pair_measures, plot_mas, rank_gaps, tidy_measures)
from .control import CONTROL_COLUMNS, pair_iia, untrained_control, untrained_copy
from .report import (accuracy_with_layers, describe_agreement, describe_attack, describe_control, describe_iia,
                     describe_rank_gaps, run_control, run_mas)

__all__ = ["CONTROL_COLUMNS", "MEASURE_COLUMNS", "accuracy_with_layers", "attack_agreement", "describe_agreement",
           "describe_attack", "describe_control", "describe_iia", "describe_mas", "describe_rank_gaps",
           "load_attack_degradation", "mas_comparison", "pair_iia", "pair_measures", "plot_mas", "rank_gaps",
           "run_control", "run_mas", "tidy_measures", "untrained_control", "untrained_copy"]
