"""`lakehouse dashboard` runs Streamlit's server in this process, started warm: the libraries and code
paths the first page needs (pandas, plotly's figure machinery, delta-rs) are loaded, and the Overview's
orders computed, before the first visitor arrives rather than while they wait (about 2 seconds of
imports and 0.7 s of orders on 2 cores, on the README's default lake)."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")


def warm(root: str | None) -> None:
    import deltalake  # noqa: F401
    import pandas as pd
    import plotly.express as px

    import lakehouse.dashboard.app  # noqa: F401  (Streamlit itself, and the app's own modules)
    from lakehouse.dashboard import data

    # Plotly loads its validators on a figure's first use: a throwaway figure does it now.
    px.line(pd.DataFrame({"x": [1, 2], "y": [1, 2]}), x="x", y="y").update_layout(title="warm").to_json()
    lake = data.Lake(root) if root else None
    try:
        if lake is not None and all(lake.version("gold", name) is not None for name in data.COUNTED_FROM):
            data.lake_counted_orders(lake)  # the Overview's orders (a year of history on a default lake)
    except Exception as exc:  # the page itself says what is wrong with the tables
        print(f"lakehouse dashboard: the Overview's orders were not prepared ({exc})", file=sys.stderr)


def main(args: list[str]) -> None:
    """`python -m lakehouse.dashboard.serve <streamlit run options> -- --root URI`."""
    after = args[args.index("--") + 1 :] if "--" in args else []
    warm(after[after.index("--root") + 1] if "--root" in after[:-1] else None)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main(sys.argv[1:])
