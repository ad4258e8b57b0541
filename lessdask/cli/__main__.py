import sys

from lessdask.cli.main import main

sys.exit(main())
