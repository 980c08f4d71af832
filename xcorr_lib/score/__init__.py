"""Layer 3 (imports ``common``, ``data``, ``nets``): the paper's score.

- :mod:`.reference`: the formula as one dense numpy function (read this first; the oracle
  of the tests) and the constant-unit rule;
- :mod:`.correlation`: the public, blocked engine: ``neuron_correlation``, or
  ``prepare`` once + ``score_prepared`` many times; ``_blocked`` holds its kernels;
- :mod:`.pairs`: tables of many pairs (each network prepared once), for the score or any
  measure of two activation matrices;
- :mod:`.null`: what unrelated units score (the chance level), in one place;
- :mod:`.settings`: named score settings (``original-code``, ``paper-text``);
- :mod:`.select`: partial correlation (chosen layers, random units per layer).
"""
