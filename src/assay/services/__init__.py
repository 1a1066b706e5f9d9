"""Services: every capability of assay as methods, with validation and invariants, above the storage."""
