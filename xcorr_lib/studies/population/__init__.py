"""Notebook 08: does alignment with a reference predict accuracy and robustness across a
population of networks (families of FCNs and CNNs, varied training, an untrained group)?"""

from __future__ import annotations

from .design import SIZES, population
from .report import (describe_memory, describe_population, describe_prediction, plot_alignment, plot_matrix,
                     plot_memory)
from .stats import TARGETS, alignment, measure_differences, memory_claim, prediction_table, references
from .workflow import MEASURE_SETTINGS, PopulationRun, above_null, run_population

__all__ = ["MEASURE_SETTINGS", "PopulationRun", "SIZES", "TARGETS", "above_null", "alignment", "describe_memory",
           "describe_population", "describe_prediction", "measure_differences", "memory_claim", "plot_alignment",
           "plot_matrix", "plot_memory", "population", "prediction_table", "references", "run_population"]
