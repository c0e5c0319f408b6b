"""``python -m bbw_bay``: the ``bbw-bay`` command line."""

from bbw_bay.cli.main import main

raise SystemExit(main())
