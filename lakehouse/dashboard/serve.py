"""`lakehouse dashboard` runs Streamlit's server in this process, started warm: the libraries and code
paths the first page needs (pandas, plotly's figure machinery, delta-rs) are loaded before the first
visitor arrives rather than while they wait (about 2 seconds on 2 cores)."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")


def warm() -> None:
    import deltalake  # noqa: F401
    import pandas as pd
    import plotly.express as px

    import lakehouse.dashboard.app  # noqa: F401  (Streamlit itself, and the app's own modules)

    # Plotly loads its validators on a figure's first use: a throwaway figure does it now.
    px.line(pd.DataFrame({"x": [1, 2], "y": [1, 2]}), x="x", y="y").update_layout(title="warm").to_json()


def main(args: list[str]) -> None:
    """`python -m lakehouse.dashboard.serve <streamlit run options> -- --root URI`."""
    warm()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main(sys.argv[1:])
