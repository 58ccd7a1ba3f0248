"""Streaming import of interactions, customers and products from CSV or JSONL files.

The format comes from the file name: `.csv`, `.jsonl` or `.ndjson`, each optionally
`.gz`. Rows are read lazily and written in chunks, one transaction a chunk, so a crash
loses at most the current chunk and a re-run (idempotent on event_id / external_id)
completes the rest. A bad row never stops the import: it goes to the rejects file,
one JSON object a line: {"line", "row", "field", "reason"}.

On PostgreSQL interactions go through COPY (customers.ingest.pg_copy); everything else
goes through the bulk services the API uses, so the rules are the same everywhere.
"""

from __future__ import annotations

import csv
import gc
import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from time import perf_counter
from typing import IO, Any

from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from customers.ingest.bulk import (
    BulkResult,
    customer_upsert_bulk,
    interaction_ingest_bulk,
    product_upsert_bulk,
)
from customers.ingest.validation import BATCH_MAX, RowError
from tenants.context import tenant_scope
from tenants.models import Tenant

KINDS = ("interactions", "customers", "products")
DEFAULT_CHUNK_SIZE = 50_000
# A CSV header without these columns cannot yield a single valid row.
REQUIRED_COLUMNS = {
    "interactions": ("event_id", "customer", "kind", "occurred_at"),
    "customers": ("external_id",),
    "products": ("external_id",),
}
# CSV cells holding JSON objects.
JSON_COLUMNS = {"interactions": (), "customers": ("attributes",), "products": ("attributes",)}
_READ_ERRORS = (OSError, EOFError, zlib.error)


class ImportInputError(Exception):
    """The input cannot be used at all (unknown format, unreadable or corrupt file)."""


@dataclass
class ImportReport:
    kind: str
    path: str
    rejects_path: str
    rows_read: int = 0
    created: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    customers_created: int = 0
    products_created: int = 0
    chunks: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        plural = "" if self.chunks == 1 else "s"
        lines = [
            f"Imported {self.kind} from {self.path} in {self.seconds:.1f}s "
            f"({self.rows_per_second:,.0f} rows/s, {self.chunks} chunk{plural})",
            f"  rows read          {self.rows_read:>12,}",
            f"  created            {self.created:>12,}",
            f"  updated            {self.updated:>12,}",
            f"  duplicates         {self.duplicates:>12,}",
            f"  rejected           {self.rejected:>12,}",
        ]
        if self.kind == "interactions":
            lines += [
                f"  customers created  {self.customers_created:>12,}",
                f"  products created   {self.products_created:>12,}",
            ]
        if self.rejected:
            lines.append(f"Rejected rows and reasons: {self.rejects_path}")
        return "\n".join(lines)


def detect_format(path: Path) -> tuple[str, bool]:
    """(format, gzipped) from the file name."""
    name = path.name.lower()
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[: -len(".gz")]
    if name.endswith(".csv"):
        return "csv", gzipped
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl", gzipped
    raise ImportInputError(
        f"{path.name}: unknown format; expected .csv, .jsonl or .ndjson, optionally .gz"
    )


def default_rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.jsonl")


def import_file(
    *,
    tenant: Tenant,
    path: str | Path,
    kind: str,
    rejects_path: str | Path | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
    now: datetime | None = None,
) -> ImportReport:
    """Import one file of `kind` into `tenant`; bad rows go to the rejects file."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    path = Path(path)
    fmt, gzipped = detect_format(path)
    rejects_path = Path(rejects_path) if rejects_path else default_rejects_path(path)
    report = ImportReport(kind=kind, path=str(path), rejects_path=str(rejects_path))
    writer = _writer_for(kind, tenant, now or timezone.now())
    started = perf_counter()
    stream = _open_text(path, gzipped)
    try:
        with stream, Rejects(rejects_path) as rejects:
            source = _source_for(fmt, kind, stream, rejects)
            bar = tqdm(desc=f"import {kind}", unit=" rows", unit_scale=True, disable=not progress)
            records = iter(source)
            with bar, _gc_paused():
                while chunk := list(islice(records, chunk_size)):
                    writer.store(writer.prepare(chunk, source, rejects), report, rejects)
                    rejects.flush()
                    report.chunks += 1
                    bar.update(source.rows - report.rows_read)
                    report.rows_read = source.rows
            report.rows_read = source.rows
            report.rejected = rejects.count
    except _READ_ERRORS as error:
        raise ImportInputError(
            f"{path}: read failed after {report.chunks} committed chunk(s) ({error}); "
            "fix the file and re-run: rows already stored are not stored twice"
        ) from error
    report.seconds = perf_counter() - started
    return report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cycle collector: a chunk's many small, acyclic lists and tuples made it
    run over and over, which cost about 40% of the Python time a row."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _open_text(path: Path, gzipped: bool) -> IO[str]:
    # surrogateescape keeps undecodable bytes visible, so that row alone is rejected.
    options = {"encoding": "utf-8-sig", "errors": "surrogateescape", "newline": ""}
    try:
        if gzipped:
            return gzip.open(path, "rt", **options)
        return open(path, **options, buffering=1 << 20)  # noqa: SIM115 (closed by the caller)
    except OSError as error:
        raise ImportInputError(f"cannot read {path}: {error.strerror or error}") from error


class Rejects:
    """The rejects side file, rewritten by every run so it matches the latest report."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._pending: list[tuple[int, Any, str, str]] = []
        self._file: IO[str] | None = None

    def __enter__(self) -> Rejects:
        try:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise ImportInputError(f"cannot write rejects to {self.path}: {error}") from error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()

    def add(self, line: int, row: Any, field: str, reason: str) -> None:
        self.count += 1
        self._pending.append((line, row, field, reason))

    def flush(self) -> None:
        """Write what a chunk rejected, in line order (the reader and writer interleave)."""
        self._pending.sort(key=lambda reject: reject[0])
        for line, row, field, reason in self._pending:
            record = {"line": line, "row": _printable(row), "field": field, "reason": reason}
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._pending.clear()


def _printable(value: Any) -> Any:
    """Undecodable bytes (kept as surrogates) shown as \\xNN, so the rejects file is UTF-8."""
    if isinstance(value, str):
        if value.isascii():
            return value
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _has_undecodable(line: str) -> bool:
    if line.isascii():
        return False
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_UNDECODABLE = ("__row__", "contains bytes that are not valid UTF-8")


class CsvSource:
    """CSV rows as lists of cells, after the header; rows too bad to validate are rejected here."""

    format = "csv"

    def __init__(self, kind: str, stream: IO[str], rejects: Rejects) -> None:
        self.kind = kind
        self.rejects = rejects
        self.rows = 0
        self._bad_lines: list[int] = []
        self._reader = csv.reader(self._checked(stream))
        try:
            header = next(self._reader, [])
        except csv.Error as error:
            raise ImportInputError(f"the CSV header cannot be read: {error}") from error
        self._bad_lines.clear()
        self.header = [name.strip() for name in header]
        # Last column of a name wins, as dict(zip(header, cells)) does.
        self.index = {name: i for i, name in enumerate(self.header)}
        missing = [c for c in REQUIRED_COLUMNS[kind] if c not in self.index]
        if header and missing:
            raise ImportInputError(
                f"the CSV header lacks {', '.join(missing)} (header: {','.join(self.header)})"
            )
        self._json_columns = [c for c in JSON_COLUMNS[kind] if c in self.index]

    def _checked(self, stream: IO[str]) -> Iterator[str]:
        bad = self._bad_lines
        for number, line in enumerate(stream, 1):
            if not line.isascii() and _has_undecodable(line):
                bad.append(number)
            yield line

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader, width, bad, reject = self._reader, len(self.header), self._bad_lines, self.rejects
        end = reader.line_num
        while True:
            try:
                for cells in reader:
                    start, end = end + 1, reader.line_num
                    if not cells:
                        continue  # a blank line
                    self.rows += 1
                    if bad and bad[0] <= end:
                        del bad[: sum(1 for n in bad if n <= end)]
                        reject.add(start, self.raw(cells), *_UNDECODABLE)
                    elif len(cells) != width:
                        reason = f"has {len(cells)} columns, the header has {width}"
                        reject.add(start, cells, "__row__", reason)
                    else:
                        yield start, cells
                return
            except csv.Error as error:
                self.rows += 1
                start, end = end + 1, reader.line_num
                del bad[: sum(1 for n in bad if n <= end)]
                reject.add(start, None, "__row__", f"is not valid CSV: {error}")

    def raw(self, cells: list[str]) -> dict | list:
        if len(cells) != len(self.header):
            return cells
        return dict(zip(self.header, cells, strict=True))

    def as_row(self, cells: list[str]) -> dict:
        """The row as the validators take it: "" is missing, JSON columns parsed."""
        row = {name: cell for name, cell in zip(self.header, cells, strict=True) if cell != ""}
        for column in self._json_columns:
            if column in row:
                try:
                    row[column] = json.loads(row[column])
                except ValueError:
                    raise RowError(column, "is not valid JSON") from None
        return row


class JsonlSource:
    """One JSON value a line; blank lines are skipped."""

    format = "jsonl"

    def __init__(self, kind: str, stream: IO[str], rejects: Rejects) -> None:
        self.kind = kind
        self.rejects = rejects
        self.rows = 0
        self._stream = stream

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        loads, reject = json.loads, self.rejects
        for number, line in enumerate(self._stream, 1):
            try:
                value = loads(line)
            except ValueError as error:
                if not line.strip():
                    continue
                self.rows += 1
                reject.add(number, line.rstrip("\r\n"), "__row__", f"is not valid JSON: {error}")
                continue
            self.rows += 1
            if not line.isascii() and _has_undecodable(line):
                reject.add(number, line.rstrip("\r\n"), *_UNDECODABLE)
                continue
            yield number, value

    def raw(self, value: Any) -> Any:
        return value

    def as_row(self, value: Any) -> Any:
        return value


def _source_for(fmt: str, kind: str, stream: IO[str], rejects: Rejects) -> CsvSource | JsonlSource:
    return CsvSource(kind, stream, rejects) if fmt == "csv" else JsonlSource(kind, stream, rejects)


class BulkWriter:
    """Writes a chunk through the bulk services (as the API does), in one transaction."""

    def __init__(self, kind: str, tenant: Tenant, now: datetime) -> None:
        self.tenant = tenant
        if kind == "interactions":
            self.service = lambda rows: interaction_ingest_bulk(tenant=tenant, rows=rows, now=now)
        elif kind == "customers":
            self.service = lambda rows: customer_upsert_bulk(tenant=tenant, rows=rows)
        else:
            self.service = lambda rows: product_upsert_bulk(tenant=tenant, rows=rows)

    def prepare(self, chunk: list[tuple[int, Any]], source: Any, rejects: Rejects) -> tuple:
        """(kept (line, raw) pairs, rows as the validators take them)."""
        kept: list[tuple[int, Any]] = []
        rows: list[Any] = []
        for line, item in chunk:
            try:
                rows.append(source.as_row(item))
            except RowError as error:
                rejects.add(line, source.raw(item), error.field, error.reason)
                continue
            kept.append((line, source.raw(item)))
        return kept, rows

    def store(self, prepared: tuple, report: ImportReport, rejects: Rejects) -> None:
        kept, rows = prepared
        if not rows:
            return
        with tenant_scope(self.tenant):
            # The services take at most an API batch at a time (SQL parameter limits).
            for start in range(0, len(rows), BATCH_MAX):
                result: BulkResult = self.service(rows[start : start + BATCH_MAX])
                for rejected in result.rejected:
                    line, raw = kept[start + rejected["index"]]
                    rejects.add(line, raw, rejected["field"], rejected["reason"])
                report.created += result.created
                report.updated += result.updated
                report.duplicates += result.duplicates
                report.customers_created += result.customers_created
                report.products_created += result.products_created


def _writer_for(kind: str, tenant: Tenant, now: datetime) -> Any:
    if kind == "interactions" and connection.vendor == "postgresql":
        from customers.ingest.pg_copy import CopyInteractionWriter

        return CopyInteractionWriter(tenant, now)
    return BulkWriter(kind, tenant, now)
