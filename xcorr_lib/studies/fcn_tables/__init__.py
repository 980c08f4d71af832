"""Building blocks of notebooks 01 (Tables 1-2) and 02 (Table 3).

The notebooks stay thin: they loop over datasets and call these functions.

- :mod:`.scores`: score settings (``original-code`` vs ``paper-text``), loading a
  split, training the nets (cached), probes, the Table 2 / Table 3 score rows and
  test accuracies;
- :mod:`.cell_nulls`: every published cell beside its three nulls and our interval;
- :mod:`.report`: ours vs paper (differences, agreement summary, prose built from the
  numbers), markdown tables for the README, figures.

Example
-------
>>> from xcorr_lib.studies import fcn_tables as ex
>>> [s.name for s in ex.resolve_settings(ex.DEFAULT_SETTINGS)]
['original-code', 'paper-text']
"""

from __future__ import annotations

from xcorr_lib.nets.models import FCN_NAMES

from .ablation import describe_ablation, setting_ablation
from .cell_nulls import NULL_COLUMNS, cell_nulls, describe_cell_nulls, nulls_markdown, plot_cell_nulls
from .null import describe_null_settings, null_paper_settings, plot_null_settings
from .report import (agreement, compare_table2, compare_table3, describe_agreement, markdown_table,
                     plot_table2, plot_table3, wide_comparison)
from .scores import (accuracy_table, cnn_vs_fcn_table, fcn_pair_table, score_tables, table1,
                     unit_activations)
from .workflow import run_tables

__all__ = [
    "FCN_NAMES", "NULL_COLUMNS", "accuracy_table", "agreement", "cell_nulls", "cnn_vs_fcn_table", "compare_table2", "compare_table3",
    "describe_ablation", "describe_agreement", "describe_cell_nulls", "describe_null_settings", "fcn_pair_table", "null_paper_settings",
    "plot_cell_nulls", "plot_null_settings", "markdown_table", "nulls_markdown", "plot_table2", "plot_table3", "run_tables",
    "score_tables", "setting_ablation", "table1", "unit_activations", "wide_comparison",
]
