"""``python -m trace_viewer`` is the ``trace-viewer`` command."""

import sys

from trace_viewer.cli import main

sys.exit(main())
