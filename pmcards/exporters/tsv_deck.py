"""Export notes as TSV: the CSV export with tabs (see `csv_deck`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pmcards.exporters import ExportOptions
from pmcards.exporters.csv_deck import export as export_csv


def export(session: Session, options: ExportOptions) -> bytes:
    return export_csv(session, options, delimiter="\t")
