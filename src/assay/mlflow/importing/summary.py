"""What an import did, counted per kind of thing: imported, already present, skipped (with reasons).

Pure: the importer adds to it as it goes and the CLI prints it as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The kinds counted, in the order the summary table shows them.
KINDS = ("experiments", "runs", "params", "metric points", "artifacts", "datasets", "models", "versions")
#: Skip reasons kept for the report (the counts always hold every skip).
MAX_NOTES = 20


@dataclass(slots=True)
class Count:
    imported: int = 0
    present: int = 0
    skipped: int = 0


@dataclass
class Summary:
    """Counts per kind, and the first reasons things were skipped."""

    counts: dict[str, Count] = field(default_factory=lambda: {k: Count() for k in KINDS})
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def add(self, kind: str, imported: int = 0, present: int = 0, skipped: int = 0) -> None:
        c = self.counts[kind]
        c.imported += imported
        c.present += present
        c.skipped += skipped

    def skip(self, kind: str, reason: str, n: int = 1) -> None:
        """Count ``n`` of ``kind`` skipped, keeping ``reason`` for the report."""
        self.add(kind, skipped=n)
        if len(self.notes) < MAX_NOTES:
            self.notes.append(f"{kind}: {reason}")

    def imported(self, kind: str) -> int:
        return self.counts[kind].imported
