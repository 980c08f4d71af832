"""Notebook 03: the transfer attack (Table 4, Figure 1) and its relation to Table 3.

- :mod:`.workflow`: :func:`run_attack` (every dataset end to end), :func:`table3_scores`;
- :mod:`.report`: Table 4 rows, ours vs paper, the score-vs-degradation statistics, figures.

The attack itself is :func:`xcorr_lib.nets.attack.substitute_attack`.
"""

from __future__ import annotations

from .report import (CLASS_NAMES, compare_with_paper, evaluate_variants, example_panel, format_cell, join_scores,
                     paper_column_markdown, paper_relation, plot_attack_examples, plot_relation, relation_stats)
from .workflow import AttackRun, run_attack, table3_scores

__all__ = ["AttackRun", "CLASS_NAMES", "compare_with_paper", "evaluate_variants", "example_panel", "format_cell",
           "join_scores", "paper_column_markdown", "paper_relation", "plot_attack_examples", "plot_relation",
           "relation_stats", "run_attack", "table3_scores"]
