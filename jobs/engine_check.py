"""Check that the configured engine can run the pipeline: `spark-submit jobs/engine_check.py [--root URI]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout without installing

from lakehouse.core.engine_check import main

if __name__ == "__main__":
    sys.exit(main())
