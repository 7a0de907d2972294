//! Tabular files — CSV, Excel or OpenDocument sheets, JSON Lines — read into records by
//! field name, so the FAQ import (command line and console) and the evaluation sets accept
//! the same formats and report problems by the same line numbers; and the FAQ catalog
//! written back out in those formats.

pub mod cell;
pub mod faq;
pub mod sheets;

use std::io::Cursor;
use std::path::Path;

use calamine::Reader;
use serde_json::{Map, Value};

/// The file formats read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (a UTF-8 byte-order mark is ignored).
    Csv,
    /// An Excel workbook (.xlsx, .xlsm); its first sheet, with a header row. Older .xls
    /// and OpenDocument files are refused: save them as .xlsx or CSV.
    Xlsx,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file name's extension says, if any.
    pub fn from_extension(name: &str) -> Option<Self> {
        let extension = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "xlsx" | "xlsm" => Some(Self::Xlsx),
            "jsonl" | "json" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }

    /// The format a `Content-Type` names, if any.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(Self::Csv),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Some(Self::Xlsx),
            "application/x-ndjson" | "application/jsonl" | "application/json" => Some(Self::Jsonl),
            _ => None,
        }
    }

    /// The media type files of this format are served as.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Jsonl => "application/x-ndjson",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Jsonl => "jsonl",
        }
    }
}

/// Why a file could not be read at all (a bad row inside a readable file is reported by
/// the reader of that kind of file, row by row).
#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The extension names no format this reader knows.
    #[error("unknown file type of {0:?}; use .csv, .xlsx or .jsonl")]
    UnknownFormat(String),
    /// CSV text is not UTF-8.
    #[error("the file is not UTF-8 text (save it as \"CSV UTF-8\")")]
    NotUtf8,
    /// A table without a header row.
    #[error("the file has no header row")]
    NoHeader,
    /// A header without a required column.
    #[error("the header must name at least {required} (found: {found})")]
    MissingColumns {
        /// The required columns.
        required: String,
        /// The header as found.
        found: String,
    },
    /// A line that is not valid CSV.
    #[error("line {line} is not valid CSV: {detail}")]
    BadCsv {
        /// The line.
        line: usize,
        /// What the parser said.
        detail: String,
    },
    /// A workbook that cannot be read.
    #[error("the workbook cannot be read: {0}")]
    BadWorkbook(String),
    /// A file past one of the reader's bounds ([`limits`]).
    #[error("the file is too large to read: {0}")]
    TooLarge(String),
    /// A JSON Lines line that is not a JSON object.
    #[error("line {line} is not a JSON object")]
    BadJson {
        /// The line.
        line: usize,
    },
    /// Writing a file failed.
    #[error("the file could not be written: {0}")]
    Write(String),
}

/// One row of a file, with the line (or sheet row) it came from.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based line in the file (the header of a table is line 1).
    pub line: usize,
    fields: Map<String, Value>,
}

impl Record {
    /// A text field, trimmed; `None` when missing, empty or not text.
    pub fn text(&self, name: &str) -> Option<String> {
        let text = self.fields.get(name)?.as_str()?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// A list field: a JSON array of texts, or in a table one cell separated by `|`.
    pub fn list(&self, name: &str) -> Vec<String> {
        let texts: Vec<&str> = match self.fields.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(cell)) => cell.split('|').collect(),
            _ => Vec::new(),
        };
        texts.into_iter().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
    }

    /// True when the field is present but not text (a number or a list where text belongs).
    pub fn is_not_text(&self, name: &str) -> bool {
        self.fields.get(name).is_some_and(|v| !v.is_string() && !v.is_null())
    }
}

/// Reads every record of a file on disk, by its extension. A table's header must name
/// every column in `required` (matched without regard to case); JSON Lines records are
/// checked by the caller, row by row.
pub fn read_path(path: &Path, required: &[&str]) -> Result<Vec<Record>, TabularError> {
    let name = path.display().to_string();
    let format = Format::from_extension(&name).ok_or_else(|| TabularError::UnknownFormat(name.clone()))?;
    let bytes = std::fs::read(path).map_err(|source| TabularError::Io { path: name, source })?;
    read(&bytes, format, required)
}

/// The bounds on a workbook, so a small file cannot make the reader allocate or work
/// without limit: its parts are inflated (and counted) before any of them is parsed, and
/// its cells are read one by one, never as the sheet's declared dimension.
pub mod limits {
    /// The most bytes all parts of a workbook may inflate to (a zip bomb is refused).
    pub const MAX_INFLATED_BYTES: u64 = 32 * 1024 * 1024;
    /// The most parts (files inside the zip) a workbook may have.
    pub const MAX_PARTS: usize = 1_000;
    /// The most rows read from a sheet, the header included.
    pub const MAX_SHEET_ROWS: u32 = 100_001;
    /// The most columns read from a sheet.
    pub const MAX_SHEET_COLUMNS: u32 = 64;
}

/// Inflates every part of the workbook, stopping as soon as the total passes
/// [`limits::MAX_INFLATED_BYTES`]: declared sizes can lie, so the bytes are counted.
fn check_inflated_size(bytes: &[u8]) -> Result<(), TabularError> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| TabularError::BadWorkbook("it is not an .xlsx workbook (save it as .xlsx or CSV)".into()))?;
    if archive.len() > limits::MAX_PARTS {
        return Err(TabularError::TooLarge(format!(
            "the workbook has {} parts; at most {} are read",
            archive.len(),
            limits::MAX_PARTS
        )));
    }
    let mut total = 0u64;
    for index in 0..archive.len() {
        let part = archive.by_index(index).map_err(|e| TabularError::BadWorkbook(e.to_string()))?;
        let budget = limits::MAX_INFLATED_BYTES - total;
        let inflated = std::io::copy(&mut part.take(budget + 1), &mut std::io::sink()).map_err(|e| {
            TabularError::BadWorkbook(format!(
                "it is damaged (a part cannot be inflated: {e}); save it again from Excel"
            ))
        })?;
        total += inflated;
        if total > limits::MAX_INFLATED_BYTES {
            return Err(TabularError::TooLarge(format!(
                "the workbook inflates to more than {} MB; split it or save it as CSV",
                limits::MAX_INFLATED_BYTES / (1024 * 1024)
            )));
        }
    }
    Ok(())
}

/// The first sheet's rows that hold something, as text with their 1-based line (the first
/// such row is line 1), read cell by cell within [`limits`]. The workbook reader
/// panics on some damaged files (a shared-string index past the table, found by fuzzing),
/// so a panic in it is a damaged workbook too, not a crashed request.
fn workbook_rows(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, TabularError> {
    check_inflated_size(bytes)?;
    let read = || -> Result<Vec<(usize, Vec<String>)>, TabularError> {
        let bad = |e: calamine::XlsxError| TabularError::BadWorkbook(e.to_string());
        let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(Cursor::new(bytes))
            .map_err(|e| TabularError::BadWorkbook(format!("{e}; save it as .xlsx (Excel 2007 or later) or CSV")))?;
        let sheet = book.sheet_names().first().cloned().ok_or(TabularError::NoHeader)?;
        let mut cells = book.worksheet_cells_reader(&sheet).map_err(bad)?;
        let mut found: std::collections::BTreeMap<u32, Vec<(u32, String)>> = std::collections::BTreeMap::new();
        let (mut first_row, mut first_col) = (u32::MAX, u32::MAX);
        while let Some(cell) = cells.next_cell().map_err(bad)? {
            let (row, col) = cell.get_position();
            if row >= limits::MAX_SHEET_ROWS {
                return Err(TabularError::TooLarge(format!(
                    "the sheet has a cell in row {}; at most {} rows are read",
                    u64::from(row) + 1,
                    limits::MAX_SHEET_ROWS
                )));
            }
            if col >= limits::MAX_SHEET_COLUMNS {
                return Err(TabularError::TooLarge(format!(
                    "the sheet has a cell in column {}; at most {} columns are read",
                    u64::from(col) + 1,
                    limits::MAX_SHEET_COLUMNS
                )));
            }
            let text = match calamine::Data::from(cell.get_value().clone()) {
                calamine::Data::Empty => continue,
                calamine::Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
                other => other.to_string(),
            };
            (first_row, first_col) = (first_row.min(row), first_col.min(col));
            found.entry(row).or_default().push((col, text));
        }
        // Only rows that hold something, each as wide as its last cell: memory follows
        // the content, never the span between far-apart cells.
        Ok(found
            .into_iter()
            .map(|(row, cells)| {
                let width = cells.iter().map(|(col, _)| col - first_col + 1).max().unwrap_or(0) as usize;
                let mut line = vec![String::new(); width];
                for (col, text) in cells {
                    line[(col - first_col) as usize] = text;
                }
                ((row - first_row) as usize + 1, line)
            })
            .collect())
    };
    std::panic::catch_unwind(read).unwrap_or_else(|_| {
        Err(TabularError::BadWorkbook("it is damaged (its parts do not fit together); save it again from Excel".into()))
    })
}

/// Reads every record of a file's bytes in the given format (see [`read_path`]).
pub fn read(bytes: &[u8], format: Format, required: &[&str]) -> Result<Vec<Record>, TabularError> {
    match format {
        Format::Csv => {
            let text = std::str::from_utf8(bytes).map_err(|_| TabularError::NotUtf8)?;
            let mut reader =
                csv::ReaderBuilder::new().flexible(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| TabularError::BadCsv { line: 1, detail: e.to_string() })?
                .iter()
                .map(str::to_owned)
                .collect();
            if header.iter().all(|h| h.trim().is_empty()) {
                return Err(TabularError::NoHeader);
            }
            let mut rows = Vec::new();
            for (n, record) in reader.records().enumerate() {
                let record = record.map_err(|e| TabularError::BadCsv { line: n + 2, detail: e.to_string() })?;
                rows.push((n + 2, record.iter().map(|cell| cell::csv_restored(cell).to_owned()).collect()));
            }
            table(&header, rows, required)
        }
        Format::Xlsx => {
            let mut rows = workbook_rows(bytes)?.into_iter();
            let (_, header) = rows.next().ok_or(TabularError::NoHeader)?;
            table(&header, rows.collect(), required)
        }
        Format::Jsonl => {
            let text = std::str::from_utf8(bytes).map_err(|_| TabularError::NotUtf8)?;
            let mut records = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let line = if n == 0 { line.trim_start_matches('\u{feff}') } else { line };
                match serde_json::from_str(line) {
                    Ok(Value::Object(fields)) => records.push(Record { line: n + 1, fields }),
                    _ => return Err(TabularError::BadJson { line: n + 1 }),
                }
            }
            Ok(records)
        }
    }
}

/// Rows of cells under a header into records keyed by the lower-cased column names; empty
/// cells are left out.
fn table(header: &[String], rows: Vec<(usize, Vec<String>)>, required: &[&str]) -> Result<Vec<Record>, TabularError> {
    let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    if required.iter().any(|r| !names.iter().any(|n| n == r)) {
        return Err(TabularError::MissingColumns { required: required.join(", "), found: header.join(", ") });
    }
    Ok(rows
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()))
        .map(|(line, cells)| {
            let fields = names
                .iter()
                .zip(cells)
                .filter(|(_, cell)| !cell.trim().is_empty())
                .map(|(name, cell)| (name.clone(), Value::String(cell)))
                .collect();
            Record { line, fields }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn csv_and_json_lines_read_into_the_same_records() {
        let csv = "\u{feff}ID, Question ,answer,paraphrases\nf1, 奖品怎么加 ,去后台,怎么加奖品| 加奖品 \nf2,,\n";
        let jsonl = "{\"id\":\"f1\",\"question\":\"奖品怎么加\",\"paraphrases\":[\"怎么加奖品\",\"加奖品\"]}\n\n{\"id\":\"f2\"}\n";
        for (bytes, format) in [(csv, Format::Csv), (jsonl, Format::Jsonl)] {
            let records = read(bytes.as_bytes(), format, &["id"]).unwrap();
            assert_eq!(records.len(), 2, "{format:?}");
            assert_eq!(records[0].text("id").as_deref(), Some("f1"));
            assert_eq!(records[0].text("question").as_deref(), Some("奖品怎么加"));
            assert_eq!(records[0].list("paraphrases"), ["怎么加奖品", "加奖品"]);
            assert_eq!(records[1].text("question"), None, "an empty cell is no value");
            assert_eq!(records[1].line, 3, "{format:?}: blank lines keep their number");
        }
    }

    #[test]
    fn blank_table_rows_are_skipped_but_keep_line_numbers() {
        let records = read(b"id,question\n,\nf1,q\n", Format::Csv, &[]).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].line, 3);
    }

    #[test]
    fn bad_files_say_what_is_wrong_and_where() {
        let error = read(b"text,faq\nhello,f1\n", Format::Csv, &["query"]).unwrap_err().to_string();
        assert!(error.contains("must name at least query"), "{error}");
        let error = read(b"{\"query\":\"a\"}\n[1]\n", Format::Jsonl, &[]).unwrap_err().to_string();
        assert!(error.contains("line 2 is not a JSON object"), "{error}");
        assert!(matches!(read(&[0xff, 0xfe, b'a'], Format::Csv, &[]), Err(TabularError::NotUtf8)));
        assert!(matches!(read(b"not a workbook", Format::Xlsx, &[]), Err(TabularError::BadWorkbook(_))));
        let missing = read_path(Path::new("/nonexistent/q.csv"), &[]).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/q.csv"), "{missing}");
        assert!(matches!(read_path(Path::new("q.txt"), &[]), Err(TabularError::UnknownFormat(_))));
    }

    #[test]
    fn formats_are_known_by_extension_and_media_type() {
        assert_eq!(Format::from_extension("FAQ.XLSX"), Some(Format::Xlsx));
        assert_eq!(Format::from_extension("faq.txt"), None);
        assert_eq!(Format::from_media_type("text/csv; charset=utf-8"), Some(Format::Csv));
        assert_eq!(Format::from_media_type(Format::Xlsx.media_type()), Some(Format::Xlsx));
        assert_eq!(Format::from_media_type("image/png"), None);
    }
}
