"""Running the notebooks: profiles, papermill and the numeric mode (:mod:`.pipeline`), and the
check that every input is present before anything runs (:mod:`.preflight`).

``python -m xcorr_lib.run --profile smoke`` (what ``make all`` / ``make quick`` call). An entry
point: it may import every layer and :mod:`xcorr_lib.report` (``--html`` builds the site).
"""
