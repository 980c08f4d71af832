"""Notebook 07: filter-subspace (atom) similarity beside the probe-based measures.

- :mod:`.study`: tasks, the atom-CNN family (one base, atom-only fine-tunes), accuracies and
  the pair table of every measure on every probe set;
- :mod:`.report`: relations between the measures, Mantel tests, cost, prose and figure.
"""

from __future__ import annotations

from .report import (MEASURES, cost_summary, describe_cost, describe_findings, mantel_table, per_layer_relations,
                     plot_study, probe_robustness, relation_table, without)
from .study import Task, accuracy_table, build_models, coefficients_shared, describe_tasks, load_task, pair_table

__all__ = ["MEASURES", "Task", "accuracy_table", "build_models", "coefficients_shared", "cost_summary",
           "describe_cost", "describe_findings", "describe_tasks", "load_task", "mantel_table", "pair_table",
           "per_layer_relations", "plot_study", "probe_robustness", "relation_table", "without"]
