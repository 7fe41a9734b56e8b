"""The Backend every service works on (defined by the store, which owns the engine)."""

from modelward.store.backend import Backend

__all__ = ["Backend"]
