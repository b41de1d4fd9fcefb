"""Build the gold dimensions and facts from silver.

spark-submit jobs/silver_to_gold.py [--root URI] [--conf FILE] [--engine MODE]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout without installing

from lakehouse.pipeline import silver_to_gold_main

if __name__ == "__main__":
    sys.exit(silver_to_gold_main())
