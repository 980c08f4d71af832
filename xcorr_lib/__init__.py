"""xcorr_lib: cross-model neuronal correlation, the paper's score and its companions.

The entry points most users need are re-exported here::

    from xcorr_lib import neuron_correlation, capture_activations
    from xcorr_lib import prepare, score_prepared, pair_table     # many pairs, each net prepared once
    from xcorr_lib import null_score                              # what independent units score
    res = neuron_correlation(..., null="shuffle", interval=True)  # a null that fits real networks, an interval

Layers, each a folder, each importing only the layers above it in this list (a test,
tests/test_layout.py, reads every import and fails on a violation):

==============  ==============================================================================
``common/``     checks (one option checker), provenance (outputs, manifest, notebook context),
                fingerprints, plotting, stats, paper (the published numbers)
``data/``       datasets, files and downloads, probe images, probe sets, train/test splits
``nets/``       models, atoms, training, checkpoints (one cache), evaluate (one predict loop),
                hooks, capture, attack (Algorithm 1), zoo (torchvision), model_files and sources
                (model loading), twins (untrained twins)
``score/``      reference (the formula in one numpy function), engine (prepare / score_prepared),
                inference (shuffled / untrained / analytic nulls, probe interval), correlation
                (neuron_correlation: both in one call), pairs, null, settings, select
``measures/``   cka, cca, rsa, mas, stitching, filter_subspace: other similarity measures
``studies/``    one per notebook (fcn_tables, transfer_attack, imagenet_partial, audit,
                alignment_search, filter_subspace); a study never imports another
``cli/``        the ``xcorr`` command and its input checks (entry point)
``run/``        the notebook runner and its preflight (``python -m xcorr_lib.run``; entry point)
``report/``     README's generated sections and the teaching site, from the committed reference
                runs (``python -m xcorr_lib.report.readme``; entry point)
==============  ==============================================================================

Where a new thing goes: a new similarity measure -> ``measures/`` (a function of two
activation matrices, registered in ``measures.MEASURES``); a new network -> ``nets/``; a new
experiment -> a notebook plus ``studies/<name>`` (the user guide's "Working on xcorr").
Imports of this package are lazy so ``import xcorr_lib`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "neuron_correlation": "xcorr_lib.score.correlation",
    "CorrelationResult": "xcorr_lib.score.engine",
    "prepare": "xcorr_lib.score.engine",
    "score_prepared": "xcorr_lib.score.engine",
    "untrained_twin": "xcorr_lib.nets.twins",
    "neuron_correlation_reference": "xcorr_lib.score.reference",
    "pair_table": "xcorr_lib.score.pairs",
    "null_score": "xcorr_lib.score.null",
    "capture_activations": "xcorr_lib.nets.capture",
    "capture_all": "xcorr_lib.nets.capture",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'xcorr_lib' has no attribute {name!r}")
