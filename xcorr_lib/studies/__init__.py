"""Layer 5 (imports every layer below; a study never imports another study): one per notebook.

===============================  ==========================================================
notebook                         study
===============================  ==========================================================
01_fcn_correlations, 02_cnn...   :mod:`.fcn_tables` (Tables 1-3)
03_transfer_attack               :mod:`.transfer_attack` (Table 4, Figure 1)
04_imagenet_partial              :mod:`.imagenet_partial` (Tables 5-7)
05_audit                         :mod:`.audit` (nulls, probes, seeds, measures)
06_model_alignment_search        :mod:`.alignment_search` (MAS, stitching, untrained control)
07_filter_subspace               :mod:`.filter_subspace` (atom similarity)
===============================  ==========================================================

Notebook 00 (the quickstart) teaches the score with the lower layers only.
"""
