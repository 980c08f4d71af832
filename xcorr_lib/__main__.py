"""``python -m xcorr_lib compare ...``: the same as the ``xcorr`` console script."""

from xcorr_lib.cli import main

raise SystemExit(main())
