"""Layer 0, imports no other layer: checks, provenance, content hashes, plotting, statistics,
the published numbers.

- :mod:`.checks`: the one option / positive-integer checker (errors name the argument);
- :mod:`.provenance`: where outputs go, the manifest row of every table and figure,
  :func:`~.provenance.context` of a notebook run;
- :mod:`.fingerprints`: hashes of arrays and weights for cache keys;
- :mod:`.plotting`: heatmaps of scores and of the per-layer breakdown;
- :mod:`.stats`: bootstrap, permutation tests, t-intervals;
- :mod:`.paper`: the numbers the paper published (never used to compute a result).
"""
