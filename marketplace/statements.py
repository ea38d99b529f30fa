"""Monthly statements as CSV (the csv module) and PDF (fpdf2, our own plain layout in the PDF core
fonts, so no font file ships with us). Pure rendering: the service gathers the figures from the
ledger and hands over a StatementDocument; nothing here touches the database.

Amounts arrive as integer minor units and are written as exact decimals in major units
(1050 USD -> 10.50). Text cells that a spreadsheet would read as a formula (a partner may name
its integration "=HYPERLINK(...)") are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.lib.money import format_money, to_major

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Money:
    """A cell holding an amount in minor units of the document's currency."""

    minor: int


Cell = str | int | Money


@dataclass
class StatementDocument:
    title: str  # "Partner statement"
    organization: str
    period: str  # "2025-03"
    currency: str
    reference: str  # the statement's public id
    issued_at: datetime
    portal_name: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    summary: list[tuple[str, int]] = field(default_factory=list)  # (label, minor units)
    notes: list[str] = field(default_factory=list)


def _csv_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv_cell(value: Cell, currency: str) -> str:
    if isinstance(value, Money):
        return str(to_major(value.minor, currency))
    if isinstance(value, int):
        return str(value)
    return _csv_text(value)


def render_csv(document: StatementDocument) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Statement", document.title])
    writer.writerow(["Organisation", _csv_text(document.organization)])
    writer.writerow(["Period", document.period])
    writer.writerow(["Currency", document.currency])
    writer.writerow(["Reference", document.reference])
    writer.writerow([])
    writer.writerow(document.columns)
    for row in document.rows:
        writer.writerow([_csv_cell(cell, document.currency) for cell in row])
    writer.writerow([])
    for label, amount in document.summary:
        writer.writerow([label, str(to_major(amount, document.currency))])
    for note in document.notes:
        writer.writerow([_csv_text(note)])
    return buffer.getvalue().encode("utf-8")


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1 only; anything else prints as "?" rather than failing.
    return text.replace("\u2013", "-").replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def _pdf_cell(value: Cell, currency: str) -> str:
    if isinstance(value, Money):
        return format_money(value.minor, currency)
    return _latin1(str(value))


def render_pdf(document: StatementDocument, *, compress: bool = True) -> bytes:
    """A one-or-more page A4 statement. `compress=False` keeps the text searchable in tests."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_compression(compress)
    pdf.set_creation_date(document.issued_at)
    pdf.set_title(_latin1(f"{document.title} {document.period} - {document.organization}"))
    pdf.set_author(_latin1(document.portal_name))
    pdf.set_creator(_latin1(document.portal_name))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()

    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 9, _latin1(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    for label, value in (
        ("Organisation", document.organization),
        ("Period", document.period),
        ("Currency", document.currency),
        ("Reference", document.reference),
        ("Issued", document.issued_at.strftime("%Y-%m-%d %H:%M UTC")),
    ):
        pdf.set_font("Helvetica", style="B", size=10)
        pdf.cell(32, 6, _latin1(label))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 6, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    pdf.set_font("Helvetica", size=9)
    if document.rows:
        money_columns = {i for row in document.rows for i, cell in enumerate(row) if isinstance(cell, Money)}
        number_columns = {i for row in document.rows for i, cell in enumerate(row) if isinstance(cell, int)}
        first = 2.4 if len(document.columns) > 4 else 2
        widths = [first] + [1] * (len(document.columns) - 1)
        aligns = ["RIGHT" if i in money_columns | number_columns else "LEFT" for i in range(len(document.columns))]
        with pdf.table(col_widths=widths, text_align=aligns, line_height=5.5, first_row_as_headings=True) as table:
            table.row([_latin1(c) for c in document.columns])
            for row in document.rows:
                table.row([_pdf_cell(cell, document.currency) for cell in row])
    else:
        pdf.cell(0, 6, "Nothing was charged in this period.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    for index, (label, amount) in enumerate(document.summary):
        last = index == len(document.summary) - 1
        pdf.set_font("Helvetica", style="B" if last else "", size=11 if last else 10)
        pdf.cell(120, 7, _latin1(label))
        pdf.cell(0, 7, format_money(amount, document.currency), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.notes:
        pdf.ln(3)
        pdf.set_font("Helvetica", size=8)
        for note in document.notes:
            pdf.multi_cell(0, 4.5, _latin1(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
