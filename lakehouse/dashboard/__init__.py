"""The dashboard over gold, data quality and pipeline health (Streamlit, reading Delta with delta-rs)."""
