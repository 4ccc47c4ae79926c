"""``python -m tools.mutate``: see tools/mutate/runner.py."""

import sys

from tools.mutate.runner import main

sys.exit(main())
