"""Results store: SQLAlchemy catalog, Parquet outcome segments, DuckDB queries."""

from wince.store.segments import SegmentLocation
from wince.store.store import Store, open_store

__all__ = ["SegmentLocation", "Store", "open_store"]
