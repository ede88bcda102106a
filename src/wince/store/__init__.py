"""Results store: SQLAlchemy catalog and Parquet outcome segments."""

from wince.store.store import Store, open_store

__all__ = ["Store", "open_store"]
