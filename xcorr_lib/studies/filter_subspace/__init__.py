"""Notebook 07: filter-subspace (atom) similarity beside the probe-based measures.

- :mod:`.study`: tasks, the atom-CNN family (one base, atom-only fine-tunes), accuracies and
  the pair table of every measure on every probe set;
- :mod:`.report`: relations between the measures, Mantel tests, cost, prose and figure.
"""

from __future__ import annotations

from .report import (MEASURES, cost_summary, describe_findings, mantel_table, plot_study, probe_robustness,
                     relation_table)
from .study import Task, accuracy_table, build_models, coefficients_shared, load_task, pair_table

__all__ = ["MEASURES", "Task", "accuracy_table", "build_models", "coefficients_shared", "cost_summary",
           "describe_findings", "load_task", "mantel_table", "pair_table", "plot_study", "probe_robustness",
           "relation_table"]
