"""``python -m circuits.cli`` runs the ``cis`` command line."""

import sys

from . import main

sys.exit(main())
