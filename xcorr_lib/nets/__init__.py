"""Layer 2 (imports ``common``, ``data``): networks and what is done with them.

- :mod:`.models`: the paper's five FCNs and its CNN; :mod:`.atoms`: atom-decomposed convs;
- :mod:`.training`: the original recipes in plain PyTorch; :mod:`.checkpoints`: the one
  cache of trained weights; :mod:`.evaluate`: the one predict / accuracy loop;
- :mod:`.hooks`: read or replace a named module's output; :mod:`.capture`: hidden-unit
  activations of one model or of many (``capture_all``);
- :mod:`.attack`: the paper's black-box transfer attack (Algorithm 1) and its evaluation;
- :mod:`.zoo`: torchvision ImageNet models, weights, truncation at a stage;
- :mod:`.model_files`: models from files (safe loading, TorchScript taps); :mod:`.sources`:
  every model source (zoo, timm, hf, safetensors, .pt2, files) through one loader;
- :mod:`.twins`: untrained twins (an architecture re-initialized), the untrained null.
"""
