"""The store: SQLAlchemy 2 Core tables, migrations and the query functions every front end uses."""

from store.errors import StoreError

__all__ = ["StoreError"]
