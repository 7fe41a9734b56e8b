"""Runs as tables: the compare view and CSV/JSON export (kept here for SDK users; the code
lives in ``modelward.tables``, below the interfaces, so the UI shares it without the SDK)."""

from modelward.tables import ATTRIBUTE_COLUMNS, differing_columns, run_record, runs_frame

__all__ = ["ATTRIBUTE_COLUMNS", "differing_columns", "run_record", "runs_frame"]
