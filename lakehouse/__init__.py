"""A PySpark medallion lakehouse (bronze, silver, gold on Delta Lake) for synthetic e-commerce data."""

__version__ = "0.1.0"
