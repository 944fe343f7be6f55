"""``python -m twinscore``: the same command as the ``twinscore`` script."""

import sys

from twinscore.cli.main import main

sys.exit(main())
