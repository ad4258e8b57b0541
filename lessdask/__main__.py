"""``python -m lessdask``: the ``lessdask`` command."""

import sys

from lessdask.cli.main import main

sys.exit(main())
