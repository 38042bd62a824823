"""Read a CSV, Parquet, Excel or JSON export as it is, apply a column mapping; fail in one clear line if it can't."""

from __future__ import annotations

import codecs
import hashlib
import lzma
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spend.core.errors import SpendError, first_line
from spend.core.user_tables import delimiter_of
from spend.features.ingest.json_rows import JSON_SUFFIXES, read_json_rows
from spend.features.ingest.workbooks import read_sheet, sheet_holding, sheets_continuing
from spend.features.schema.fields import TEXT

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")  # the first sheet, or --sheet; .xls read by xlrd
SUFFIXES = (*CSV_SUFFIXES, *PARQUET_SUFFIXES, *EXCEL_SUFFIXES, *JSON_SUFFIXES)


def parse_mapping(text: str | list[str] | None) -> dict[str, str]:
    """`old=new,old2=new2` (or several such, one per --map) -> {old: new}; a malformed pair, or a column
    mapped twice to different names, is an error, not ignored."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for pair in ",".join([text] if isinstance(text, str) else text).split(","):
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise SpendError(f"--map: {pair!r} is not of the form old=new")
        old, new = old.strip(), new.strip()
        if mapping.get(old, new) != new:
            raise SpendError(f"--map: {old!r} is mapped twice ({mapping[old]} and {new})")
        mapping[old] = new
    return mapping


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_files(path: Path) -> tuple[list[Path], list[str]]:
    """The exports to ingest: the file itself, or a folder's files of a known type in name order (a shop's
    daily exports), with the names of the folder's other files."""
    path = Path(path)
    if not path.is_dir():
        return [path], []
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    known = [p for p in files if _known(p)]
    if not known:
        raise SpendError(f"{path}: the folder holds no export (CSV, Parquet, Excel or JSON files)")
    return known, [p.name for p in files if not _known(p)]


def export_parts(files: list[Path], sheet: str | None, header_row: int = 1) -> list[tuple[Path, str | None]]:
    """Each export file with the sheet to read (None: the file's only table): every sheet that continues a
    workbook's first (workbooks.py) when no `--sheet` is given, each one batch as a folder's files are."""
    parts: list[tuple[Path, str | None]] = []
    for file in files:
        workbook = sheet is None and file.name.lower().endswith(EXCEL_SUFFIXES)  # other files: read_export judges
        sheets = sheets_continuing(file, header_row) if workbook else []
        parts += [(file, name) for name in sheets] if len(sheets) > 1 else [(file, sheet)]
    return parts


def _known(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise SpendError(f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)}")


# A row with more or fewer fields than the header (a stray delimiter in a free-text field) cannot be split
# into columns. It is kept as an empty row at its place, with its text in this column (never stored: it
# tells two such rows apart), so ingestion quarantines it as `row:field_count` and the rest goes in.
MALFORMED = "\x00malformed_row"


def _read_csv(path: Path, encoding: str, header_row: int = 1) -> pd.DataFrame:
    # Every column is read as text: parsing is ours, so a bad value becomes a reason, not a crash.
    delimiter = _delimiter(path, encoding, header_row)
    read_options = pacsv.ReadOptions(encoding=encoding, block_size=16 << 20, skip_rows=header_row - 1)
    table, malformed = _csv_table(path, read_options, delimiter)
    if malformed and any(row.number is None for row in malformed):  # row numbers are known single-threaded
        read_options.use_threads = False
        table, malformed = _csv_table(path, read_options, delimiter)
    frame = table.to_pandas(types_mapper=lambda t: TEXT if pa.types.is_string(t) else None)
    return _with_malformed(frame, malformed, header_row) if malformed else frame


def _csv_table(path: Path, read_options, delimiter: str) -> tuple[pa.Table, list]:
    malformed: list = []

    def set_aside(row) -> str:
        malformed.append(row)
        return "skip"

    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=set_aside)
    source = lzma.open(path) if path.name.lower().endswith(".xz") else path
    try:
        with _undecodable_rows() as undecodable:
            header = pacsv.open_csv(source, read_options=read_options, parse_options=parse).schema.names
            source = _reopened(source, path)
            types = {name: pa.string() for name in header}
            convert = pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
            )
            malformed.clear()  # opening read the first block once already
            table = pacsv.read_csv(source, read_options=read_options, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as error:
        if undecodable:  # a malformed row that is not text in the encoding: the file's encoding is the problem
            raise undecodable[0] from error
        raise
    finally:
        if isinstance(source, lzma.LZMAFile):
            source.close()
    return table, malformed


@contextmanager
def _undecodable_rows() -> Iterator[list[UnicodeDecodeError]]:
    """pyarrow decodes a malformed row's text before handing it over, and prints the traceback of a row that
    does not decode ("Exception ignored in ...") before failing the read: kept here, out of the terminal."""
    kept: list[UnicodeDecodeError] = []
    previous = sys.unraisablehook

    def keep(unraisable) -> None:
        if isinstance(unraisable.exc_value, UnicodeDecodeError):
            kept.append(unraisable.exc_value)
        else:
            previous(unraisable)

    sys.unraisablehook = keep
    try:
        yield kept
    finally:
        sys.unraisablehook = previous


def _with_malformed(frame: pd.DataFrame, malformed: list, header_row: int = 1) -> pd.DataFrame:
    """`frame` with an empty row at the place of each malformed one (its record number counts the header as
    1, and the lines skipped above it), holding the row's text in MALFORMED."""
    last = len(frame) + len(malformed)  # a row whose number pyarrow could not tell goes last (not expected)
    first = header_row + 1  # the record number of the first data row
    at = sorted((row.number - first if row.number is not None else last, row.text) for row in malformed)
    at = [(min(position, len(frame) + i), text) for i, (position, text) in enumerate(at)]
    positions, texts = [position for position, _ in at], [text for _, text in at]
    placed = np.ones(len(frame) + len(at), dtype=bool)
    placed[positions] = False
    out = frame.set_axis(np.flatnonzero(placed)).reindex(range(len(placed)))  # the gaps: empty rows
    out[MALFORMED] = pd.Series(pd.NA, index=out.index, dtype=TEXT)
    out.loc[positions, MALFORMED] = texts
    return out


def _delimiter(path: Path, encoding: str, header_row: int = 1) -> str:
    """`,` unless the header line holds no comma and does hold semicolons, tabs or pipes: Excel saves CSV
    with `;` where the decimal mark is a comma (so data rows hold commas), and text exports use tabs."""
    lines = _head_lines(path, encoding)
    return delimiter_of(lines[header_row - 1] if len(lines) >= header_row else "")


def _head_lines(path: Path, encoding: str) -> list[str]:
    """The lines of the file's first 64 KiB (decompressed), without a byte-order mark."""
    xz = path.name.lower().endswith(".xz")  # pyarrow's streams do not read xz
    with lzma.open(path) if xz else pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 16).decode(encoding, errors="replace")
    return head.lstrip("\ufeff").splitlines()


def _marked_encoding(path: Path, encoding: str) -> str:
    """UTF-16 for a text export that starts with UTF-16's byte-order mark (Excel's "Unicode text"),
    whatever --encoding says but a UTF-16 of its own: read as UTF-8 it was refused, with the option to
    type, and as latin-1 its column names came out as "ÿþo\x00r\x00...". No CSV's first characters are
    "ÿþ" or "þÿ", which is all those two bytes could be in an 8-bit encoding."""
    if codecs.lookup(encoding).name.startswith("utf-16"):
        return encoding
    xz = path.name.lower().endswith(".xz")
    try:
        with lzma.open(path) if xz else pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(2)
    except (OSError, EOFError, lzma.LZMAError, pa.ArrowInvalid):  # the read itself says what is wrong
        return encoding
    return "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else encoding


def _reopened(source, path: Path):
    """An xz stream cannot seek back: a second read of it needs a new one (a path is opened afresh anyway)."""
    if isinstance(source, lzma.LZMAFile):
        source.close()
        return lzma.open(path)
    return source


def refuse_unused_maps(mapping: dict[str, str], paths: list[Path], applied: list[list[str]]) -> None:
    """Files that share the maps (an export and the files read beside it): a map none of them has a column
    for is refused, naming them."""
    used = {old for maps in applied for old in maps}
    unused = [old for old in mapping if old not in used]
    if unused:
        names = list(dict.fromkeys(p.name for p in paths))  # an export may be its own persons file
        where = {1: f"{names[0]}", 2: f"neither {names[0]} nor {names[-1]}"}.get(
            len(names), f"none of {', '.join(names)}"
        )
        raise SpendError(f"--map: column(s) {', '.join(unused)} in {where}")


def read_export(
    path: Path,
    mapping: dict[str, str] | None = None,
    encoding: str = "utf-8",
    header_row: int = 1,
    sheet: str | None = None,
    maps_optional: bool = False,
) -> pd.DataFrame:
    """Read an export into a frame with canonical column names; raises SpendError on unreadable input.
    `header_row`: the line the column names are on (CSV and Excel); `sheet`: a workbook's sheet to read;
    `maps_optional`: a map naming columns the file lacks is skipped, not refused (one of two files that
    share the maps: `--orders`); the maps applied are then in the frame's attrs["maps_applied"]."""
    path = Path(path)
    if path.is_dir():
        raise SpendError(f"{path}: is a folder; ingest its files one by one")
    if not path.is_file():
        if path.exists():  # a device or a pipe: it would be read forever, or wait for a writer
            raise SpendError(f"{path}: not a regular file (a device or a pipe); save the export to a file first")
        raise SpendError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SpendError(f"{path}: the file is empty")
    try:
        codecs.lookup(encoding)
    except LookupError as error:
        raise SpendError(f"--encoding: {encoding!r} is not a text encoding (e.g. utf-8, latin-1)") from error
    suffix = _suffix(path)
    if header_row != 1 and suffix not in (*CSV_SUFFIXES, *EXCEL_SUFFIXES):
        raise SpendError(f"--header-row: {path.name} is {suffix.lstrip('.')}, whose column names are not on a line")
    if sheet is not None and suffix not in EXCEL_SUFFIXES:
        raise SpendError(f"--sheet: {path.name} is not an Excel workbook ({', '.join(EXCEL_SUFFIXES)})")
    if suffix in (*CSV_SUFFIXES, *JSON_SUFFIXES):
        encoding = _marked_encoding(path, encoding)
    try:
        frame = _read(path, suffix, encoding, header_row, sheet)
    except EOFError as error:  # a compressed stream cut short (a partial download or copy)
        raise SpendError(f"{path}: the compressed file is truncated ({_first_line(error)})") from error
    except (pa.ArrowInvalid, UnicodeDecodeError, lzma.LZMAError, OSError, zipfile.BadZipFile, ValueError) as error:
        hint = content_hint(path, suffix, encoding)  # when it knows, the encoding's advice is beside the point
        why = (first_line(error) if hint else _first_line(error)) + hint
        raise SpendError(f"{path}: cannot be read as {suffix.lstrip('.')} ({why})") from error
    if frame.empty:
        raise SpendError(f"{path}: the file has a header but no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    if suffix in EXCEL_SUFFIXES and sheet is None:
        _table_on_another_sheet(frame, path, mapping or {}, header_row)
    _header_further_down(frame, path, mapping or {}, header_row, encoding)
    frame = _without_unnamed(frame, path)
    mapping = dict(mapping or {})
    joined = {old: mapping.pop(old) for old in list(mapping) if JOIN in old and old not in frame.columns}
    if maps_optional:
        mapping = {old: new for old, new in mapping.items() if old in frame.columns}
        joined = {old: new for old, new in joined.items() if all(p in frame.columns for p in _parts(old))}
    missing = [old for old in mapping if old not in frame.columns]
    missing += [part for old in joined for part in _parts(old) if part not in frame.columns]
    if missing:
        raise SpendError(
            f"--map: column(s) {', '.join(missing)} not in {path.name} (it has {', '.join(frame.columns)})"
        )
    frame = frame.rename(columns=mapping)
    if maps_optional:
        frame.attrs["maps_applied"] = [*mapping, *joined]
    for old, new in joined.items():
        if new in frame.columns:
            raise SpendError(f"{path}: column(s) {new} appear more than once after mapping")
        frame[new] = _joined_text(frame, _parts(old))
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise SpendError(f"{path}: column(s) {', '.join(duplicated)} appear more than once after mapping")
    return frame


JOIN = "+"  # --map "Date+Time=ts": a value written across columns, joined with a space


def header_texts(columns, mapping: dict[str, str] | None) -> dict[str, str]:
    """What each column of a read export holds in a row that repeats the file's header: its name in the
    file (a joined column's parts joined with a space, as `_joined_text` joins values)."""
    texts = {column: column for column in columns}
    for old, new in (mapping or {}).items():
        if new in texts:
            texts[new] = " ".join(_parts(old)) if JOIN in old and old not in columns else old
    return texts


def joined_parts(mapping: dict[str, str] | None, columns) -> set[str]:
    """The columns a joined --map ("Date+Time=ts") read into another one."""
    return {part for old in (mapping or {}) if JOIN in old and old not in columns for part in _parts(old)}


def _parts(old: str) -> list[str]:
    return [part.strip() for part in old.split(JOIN)]


def _joined_text(frame: pd.DataFrame, parts: list[str]) -> pd.Series:
    """The parts' texts joined with a space, blanks left out (a date without its time stays a date). A
    spreadsheet's date cell read as text ends in a midnight its time column then follows: dropped."""
    texts = []
    for part in parts:
        text = frame[part].astype(TEXT).str.strip().mask(lambda t: t == "")
        texts.append(text.str.replace(r" 00:00:00$", "", regex=True) if part != parts[-1] else text)
    joined = texts[0]
    for text in texts[1:]:
        joined = (joined + " " + text).fillna(joined).fillna(text)
    return joined


def _read(path: Path, suffix: str, encoding: str, header_row: int = 1, sheet: str | None = None) -> pd.DataFrame:
    if suffix in PARQUET_SUFFIXES:
        return pq.read_table(path).to_pandas()
    if suffix in EXCEL_SUFFIXES:  # every cell as text, as a CSV's: parsing is ours
        return read_sheet(path, header_row, sheet)
    if suffix in JSON_SUFFIXES:
        return read_json_rows(path, encoding, MALFORMED)
    return _read_csv(path, encoding, header_row)


HEADER_SEARCH_ROWS = 20  # a report's title, export date and blank lines above the header fit in these


def _header_further_down(frame: pd.DataFrame, path: Path, mapping: dict, header_row: int, encoding: str) -> None:
    """An error naming the line of the header when the first line names no known column and a line among
    the first few names several (a report's title and date above the table, as POS and Excel exports write
    them); without it the file was refused for an unnamed column, or every row for missing fields."""
    known = _known_names(mapping)
    if len(known & set(frame.columns)) >= 2:
        return
    csv = path.name.lower().endswith(CSV_SUFFIXES)
    for line, values in _lines_below(path, encoding, header_row) if csv else _rows_below(frame, header_row):
        named = sorted(known & {str(v).strip() for v in values if v is not None and str(v).strip()})
        if len(named) >= 3:
            raise SpendError(
                f"{path.name}: the header seems to be on line {line} (it names {', '.join(named[:4])}), below "
                f"{line - 1} line(s) of something else (a report's title?): ingest with --header-row {line}"
            )


def _table_on_another_sheet(frame: pd.DataFrame, path: Path, mapping: dict, header_row: int) -> None:
    """An error naming the sheet to give `--sheet` when the first sheet's header names no column Spend
    knows and another sheet's names several: without it, a summary sheet's `Total` was suggested as a
    price."""
    known = _known_names(mapping)
    if len(known & set(frame.columns)) >= 2:
        return
    holding = sheet_holding(path, known, header_row)
    if holding is not None:
        first, sheet, named = holding
        raise SpendError(
            f"{path.name}: its first sheet {first!r} names no column of a table; the sheet {sheet!r} does "
            f"({', '.join(named[:4])}): ingest with --sheet {sheet!r}"
        )


def _rows_below(frame: pd.DataFrame, header_row: int) -> Iterator[tuple[int, list]]:
    """(line, values) of the first rows read below the header (a workbook's blank rows are rows)."""
    for index in range(min(HEADER_SEARCH_ROWS, len(frame))):
        yield index + header_row + 1, frame.iloc[index].tolist()


def _lines_below(path: Path, encoding: str, header_row: int) -> Iterator[tuple[int, list]]:
    """(line, values) of a CSV's first lines below the header, read from the file: a title line without the
    table's delimiters made every line below it unsplittable, and the reader skips blank lines."""
    import csv

    below = _head_lines(path, encoding)[header_row : header_row + HEADER_SEARCH_ROWS]
    for number, text in enumerate(below, start=header_row + 1):
        yield number, next(csv.reader([text], delimiter=delimiter_of(text)), [])


def _known_names(mapping: dict[str, str]) -> set[str]:
    """Every canonical column name of every table, and the export's own names given to --map."""
    from spend.features.schema.fields import default_context
    from spend.features.schema.tables import TABLES

    ctx = default_context()
    names = {name for spec in TABLES.values() for name in spec.field_map(ctx)}
    return names | {part for old in mapping for part in ([old, *_parts(old)] if JOIN in old else [old])}


def _without_unnamed(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Columns without a header name (Excel saves `a,b,c,,` when cells beyond the data were ever touched):
    dropped when empty, an error naming their position when they hold values (no --map can name them)."""
    unnamed = [i for i, name in enumerate(frame.columns) if name == ""]
    if not unnamed:
        return frame
    for i in unnamed:
        values = frame.iloc[:, i]
        filled = values.notna() & (values.astype(TEXT).str.strip() != "")
        if filled.any():
            row = int(filled.to_numpy().argmax()) + 1
            raise SpendError(
                f"{path.name}: column {i + 1} has no name in the header but holds values (first in data row {row}); "
                "name it in the header, or remove it"
            )
    return frame.iloc[:, [i for i, name in enumerate(frame.columns) if name != ""]]


def _first_line(error: Exception) -> str:
    """The error's first line, with what to do when it is an encoding's."""
    message = first_line(error)
    if "invalid UTF8" in message or isinstance(error, UnicodeDecodeError):
        message += "; the file is not valid for this encoding, pass --encoding (e.g. latin-1)"
    return message


# What a file's first bytes say it is, for a file whose name says otherwise (a gzip saved as .csv, a CSV
# renamed .xlsx): the reader's own error ("Empty CSV file or block", "File is not a zip file") does not say.
SIGNATURES = (  # (first bytes, what they say, the suffixes that name it)
    (b"\x1f\x8b", "gzip-compressed", (".csv.gz",)),
    (b"BZh", "bzip2-compressed", (".csv.bz2",)),
    (b"\xfd7zXZ\x00", "xz-compressed", (".csv.xz",)),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", (".csv.zst",)),
    (b"PAR1", "a Parquet file", PARQUET_SUFFIXES),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook?)", (".xlsx", ".xlsm")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (or another older Office file)", (".xls",)),
)


def content_hint(path: Path, suffix: str, encoding: str) -> str:
    """Why a file cannot be read as its name says: its first bytes say it is something else (a compressed
    file, a Parquet file or a workbook under another name; a text file named .xlsx or .parquet)."""
    with open(path, "rb") as file:
        head = file.read(8)
    stem = path.name[: -len(suffix)]
    for magic, what, names in SIGNATURES:
        if head.startswith(magic) and suffix not in names:
            return f"; its first bytes say it is {what}: name it {stem}{names[0]}"
    if suffix not in CSV_SUFFIXES and suffix not in JSON_SUFFIXES and _text_like(head):
        if head.lstrip()[:1] in (b"{", b"["):
            return f"; it looks like JSON, not {suffix.lstrip('.')}: name it {stem}.jsonl (or .json)"
        return f"; it looks like text, not {suffix.lstrip('.')}: name it {stem}.csv if it is a CSV"
    return ""


def _text_like(head: bytes) -> bool:
    try:
        return bool(head) and head.decode("utf-8").isprintable()
    except UnicodeDecodeError:
        return False
