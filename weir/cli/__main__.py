"""`python -m weir.cli`, as the tests and the images run it."""

import sys

from weir.cli import main

sys.exit(main())
