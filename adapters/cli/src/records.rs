//! Tabular input files — CSV, Excel or OpenDocument sheets, JSON Lines — read into records by
//! field name, so the FAQ import and the evaluation sets accept the same formats and report
//! problems by the same line numbers.

use std::path::Path;

use anyhow::{bail, Context, Result};
use calamine::{Data, Reader};
use serde_json::{Map, Value};

/// One row of a file, with the line (or sheet row) it came from.
#[derive(Debug)]
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
}

/// Reads every record of `path`, by its extension (`.csv`, `.xlsx`/`.xlsm`/`.xls`/`.ods`,
/// `.jsonl`/`.json`). A table's header must name every column in `required` (matched
/// without regard to case); JSON Lines records are checked by the caller, row by row.
pub fn read(path: &Path, required: &[&str]) -> Result<Vec<Record>> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let at = |what: String| format!("{}: {what}", path.display());
    match extension.as_str() {
        "csv" => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut reader =
                csv::ReaderBuilder::new().flexible(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let header: Vec<String> =
                reader.headers().with_context(|| at("no header row".into()))?.iter().map(str::to_owned).collect();
            let mut rows = Vec::new();
            for (n, record) in reader.records().enumerate() {
                let record = record.with_context(|| at(format!("line {} is not valid CSV", n + 2)))?;
                rows.push((n + 2, record.iter().map(str::to_owned).collect()));
            }
            table(&header, rows, required).with_context(|| path.display().to_string())
        }
        "xlsx" | "xlsm" | "xls" | "ods" => {
            let mut book =
                calamine::open_workbook_auto(path).with_context(|| format!("cannot open {}", path.display()))?;
            let sheet = book.sheet_names().first().cloned().with_context(|| at("the workbook has no sheet".into()))?;
            let range = book.worksheet_range(&sheet).with_context(|| at(format!("cannot read sheet {sheet:?}")))?;
            let mut rows = range.rows().map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
                        other => other.to_string(),
                    })
                    .collect::<Vec<String>>()
            });
            let header = rows.next().with_context(|| at("the sheet is empty".into()))?;
            table(&header, rows.enumerate().map(|(n, r)| (n + 2, r)).collect(), required)
                .with_context(|| path.display().to_string())
        }
        "jsonl" | "json" => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut records = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let value: Value =
                    serde_json::from_str(line).with_context(|| at(format!("line {} is not JSON", n + 1)))?;
                let Value::Object(fields) = value else { bail!(at(format!("line {} is not a JSON object", n + 1))) };
                records.push(Record { line: n + 1, fields });
            }
            Ok(records)
        }
        other => bail!("{}: unknown file type {other:?}; use .csv, .xlsx or .jsonl", path.display()),
    }
}

/// Rows of cells under a header into records keyed by the lower-cased column names; empty
/// cells are left out.
fn table(header: &[String], rows: Vec<(usize, Vec<String>)>, required: &[&str]) -> Result<Vec<Record>> {
    let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    if required.iter().any(|r| !names.iter().any(|n| n == r)) {
        bail!("the header must name at least {} (found: {})", required.join(", "), header.join(", "));
    }
    Ok(rows
        .into_iter()
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
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("faqs.csv");
        std::fs::write(
            &csv,
            "\u{feff}ID, Question ,answer,paraphrases\nf1, 奖品怎么加 ,去后台,怎么加奖品| 加奖品 \nf2,,\n",
        )
        .unwrap();
        let jsonl = dir.path().join("faqs.jsonl");
        std::fs::write(&jsonl, "{\"id\":\"f1\",\"question\":\"奖品怎么加\",\"paraphrases\":[\"怎么加奖品\",\"加奖品\"]}\n\n{\"id\":\"f2\"}\n")
            .unwrap();
        for path in [&csv, &jsonl] {
            let records = read(path, &["id", "question"]).unwrap();
            assert_eq!(records.len(), 2, "{}", path.display());
            assert_eq!(records[0].text("id").as_deref(), Some("f1"));
            assert_eq!(records[0].text("question").as_deref(), Some("奖品怎么加"));
            assert_eq!(records[0].list("paraphrases"), ["怎么加奖品", "加奖品"]);
            assert_eq!(records[1].text("question"), None, "an empty cell is no value");
        }
        assert_eq!(read(&csv, &[]).unwrap()[1].line, 3);
        assert_eq!(read(&jsonl, &[]).unwrap()[1].line, 3, "blank lines keep their number");
    }

    #[test]
    fn bad_files_name_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("q.csv");
        std::fs::write(&csv, "text,faq\nhello,f1\n").unwrap();
        let error = format!("{:#}", read(&csv, &["query"]).unwrap_err());
        assert!(error.contains("q.csv") && error.contains("must name at least query"), "{error}");
        let jsonl = dir.path().join("q.jsonl");
        std::fs::write(&jsonl, "{\"query\":\"a\"}\n[1]\n").unwrap();
        let error = format!("{:#}", read(&jsonl, &[]).unwrap_err());
        assert!(error.contains("q.jsonl") && error.contains("line 2 is not a JSON object"), "{error}");
        let error = format!("{:#}", read(&dir.path().join("q.txt"), &[]).unwrap_err());
        assert!(error.contains("unknown file type"), "{error}");
    }
}
