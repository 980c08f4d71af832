"""Layer 3 (imports ``common``, ``data``, ``nets``): the paper's score.

- :mod:`.reference`: the formula as one dense numpy function (read this first; the oracle
  of the tests) and the constant-unit rule;
- :mod:`.engine`: the blocked, exact engine: ``prepare`` once + ``score_prepared`` many
  times, and the result; ``_blocked`` holds its kernels;
- :mod:`.inference`: nulls that fit real networks (shuffled probes, untrained twins) beside
  the analytic one, and the probe-bootstrap interval;
- :mod:`.correlation`: ``neuron_correlation``, the one call: score, nulls, interval;
- :mod:`.pairs`: tables of many pairs (each network prepared once), for the score or any
  measure of two activation matrices;
- :mod:`.null`: what unrelated units score (the chance level), in one place;
- :mod:`.settings`: named score settings (``original-code``, ``paper-text``);
- :mod:`.select`: partial correlation (chosen layers, random units per layer).
"""
