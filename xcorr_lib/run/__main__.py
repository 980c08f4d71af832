"""``python -m xcorr_lib.run``: :func:`xcorr_lib.run.pipeline.main`."""

import sys

from xcorr_lib.run.pipeline import main

sys.exit(main())
