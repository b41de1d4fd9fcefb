"""Take new bronze files into the silver Delta tables.

spark-submit jobs/bronze_to_silver.py [--root URI] [--conf FILE] [--engine MODE]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout without installing

from lakehouse.pipeline import bronze_to_silver_main

if __name__ == "__main__":
    sys.exit(bronze_to_silver_main())
