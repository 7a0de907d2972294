//! Hostile FAQ files: random bytes, valid files with bytes flipped, cut short or laced with
//! invalid UTF-8, in every format, and files past the row limit. Parsing never panics; what
//! it refuses it refuses with a message, and every bad row it reports names a line.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use switchboard_engine::catalog::{Catalog, CatalogCommand};
use switchboard_tabular::faq::{parse, write, FaqFile, MAX_ROWS};
use switchboard_tabular::{Format, TabularError};

const FORMATS: [Format; 3] = [Format::Csv, Format::Xlsx, Format::Jsonl];

const SEED_CSV: &str = "id,question,answer,category,paraphrases\n\
                        a,\"逗号, 引号 \"\"\",\"答案\n多行\",prizes,p1|p2\n\
                        b,How?,Like this.,,\n";

fn seed(format: Format) -> Vec<u8> {
    let file = parse(SEED_CSV.as_bytes(), Format::Csv).unwrap();
    let mut catalog = Catalog::default();
    for row in &file.rows {
        let command = CatalogCommand::Upsert { faq_id: row.faq_id.clone(), entry: row.entry.clone() };
        catalog.decide(&command).unwrap().iter().for_each(|e| catalog.apply(e));
    }
    write(&catalog, format).unwrap()
}

/// What any answer of `parse` must satisfy, whatever it was given.
fn well_formed(outcome: Result<FaqFile, TabularError>) -> Result<(), TestCaseError> {
    match outcome {
        Err(e) => prop_assert!(!e.to_string().trim().is_empty(), "a refusal says why"),
        Ok(file) => {
            for problem in &file.problems {
                prop_assert!(problem.line >= 1 && !problem.message.is_empty(), "{problem:?}");
            }
            for row in &file.rows {
                prop_assert!(!row.entry.question.trim().is_empty() && !row.entry.answer.trim().is_empty());
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    InsertInvalidUtf8(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::InsertInvalidUtf8),
    ];
    prop::collection::vec(one, 1..6)
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        if bytes.is_empty() {
            break;
        }
        match *mutation {
            Mutation::Flip(i, b) => {
                let i = i % bytes.len();
                bytes[i] ^= b | 1;
            }
            Mutation::Truncate(i) => bytes.truncate(i % bytes.len()),
            Mutation::InsertInvalidUtf8(i) => {
                let i = i % bytes.len();
                bytes.splice(i..i, [0xff, 0xfe, 0xc3]);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_or_read_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        for format in FORMATS {
            well_formed(parse(&bytes, format))?;
        }
    }

    #[test]
    fn damaged_files_in_every_format_are_refused_or_read_never_a_panic(mutations in mutations()) {
        for format in FORMATS {
            well_formed(parse(&mutate(seed(format), &mutations), format))?;
        }
    }
}

#[test]
fn invalid_utf8_in_a_text_file_is_refused_with_a_message() {
    let mut csv = SEED_CSV.as_bytes().to_vec();
    let at = SEED_CSV.find("How?").unwrap();
    csv.splice(at..at, [0xff, 0xfe]);
    for format in [Format::Csv, Format::Jsonl] {
        let outcome = parse(&csv, format);
        let refused = match &outcome {
            Err(e) => !e.to_string().is_empty(),
            Ok(file) => !file.problems.is_empty() && file.rows.len() < 2,
        };
        assert!(refused, "{format:?}: {outcome:?}");
    }
}

#[test]
fn a_file_past_the_row_limit_is_refused_naming_the_limit_and_one_at_it_is_read() {
    let rows = |n: usize| {
        let mut csv = String::from("id,question,answer\n");
        for i in 0..n {
            csv.push_str(&format!("f{i},question number {i},answer number {i}\n"));
        }
        csv.into_bytes()
    };
    let at_limit = parse(&rows(MAX_ROWS), Format::Csv).unwrap();
    assert_eq!((at_limit.rows.len(), at_limit.problems.len()), (MAX_ROWS, 0));
    let over = parse(&rows(MAX_ROWS + 1), Format::Csv).unwrap();
    assert!(over.rows.is_empty(), "nothing of an oversized file is imported");
    assert!(over.problems.iter().any(|p| p.message.contains(&MAX_ROWS.to_string())), "{:?}", over.problems);
}

/// Found by fuzzing: a sheet cell naming a shared string past the end of the table made
/// the workbook reader panic (an index out of bounds inside it). It is a damaged workbook.
#[test]
fn a_workbook_whose_cell_names_a_missing_shared_string_is_refused_as_damaged() {
    let bytes = include_bytes!("data/shared-string-past-the-table.xlsx");
    match parse(bytes, Format::Xlsx) {
        Err(TabularError::BadWorkbook(why)) => assert!(why.contains("damaged"), "{why}"),
        other => panic!("expected a damaged workbook, got {other:?}"),
    }
}

/// Kibibytes of a `/proc/self/status` field.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How much the process's peak memory grows while `work` runs, in MiB (the peak is reset
/// first, so what came before does not count). Nextest runs each test in its own process.
fn peak_growth_mib(work: impl FnOnce()) -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:");
    work();
    status_kib("VmHWM:").saturating_sub(before) / 1024
}

/// A workbook whose two cells span the whole grid: `A1` and the last cell Excel has.
fn two_cell_bomb() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "id").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    book.save_to_buffer().unwrap()
}

/// A valid workbook whose shared strings inflate to 48 MiB from a few kilobytes.
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, title) in ["id", "question", "answer"].into_iter().enumerate() {
        sheet.write_string(0, col as u16, title).unwrap();
        sheet.write_string(1, col as u16, "a").unwrap();
    }
    let seed = book.save_to_buffer().unwrap();
    let mut original = zip::ZipArchive::new(std::io::Cursor::new(seed)).unwrap();
    let mut bomb = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for index in 0..original.len() {
        let part = original.by_index(index).unwrap();
        if part.name() != "xl/sharedStrings.xml" {
            bomb.raw_copy_file(part).unwrap();
            continue;
        }
        bomb.start_file("xl/sharedStrings.xml", options).unwrap();
        bomb.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#).unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..48 {
            bomb.write_all(&chunk).unwrap();
        }
        bomb.write_all(b"</t></si></sst>").unwrap();
    }
    bomb.finish().unwrap().into_inner()
}

/// A bomb smaller than `at_most` bytes is refused for its size, saying `why`, while the
/// process grows by less than 64 MiB.
fn refused_for_size_within_64_mib(bomb: &[u8], at_most: usize, why: &str) {
    assert!(bomb.len() < at_most, "a small file: {} bytes", bomb.len());
    let mut outcome = None;
    let growth = peak_growth_mib(|| outcome = Some(parse(bomb, Format::Xlsx)));
    match outcome.unwrap() {
        Err(TabularError::TooLarge(said)) => assert!(said.contains(why), "{said}"),
        other => panic!("expected a refusal for size, got {other:?}"),
    }
    assert!(growth < 64, "the process grew by {growth} MiB");
}

#[test]
fn a_two_cell_sheet_spanning_the_grid_is_refused_without_growing_the_process() {
    refused_for_size_within_64_mib(&two_cell_bomb(), 16 * 1024, "row 1048576");
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_parsed() {
    refused_for_size_within_64_mib(&zip_bomb(), 1024 * 1024, "inflates to more than 32 MB");
}

#[test]
fn far_apart_cells_within_the_bounds_cost_only_what_they_hold() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, title) in ["id", "question", "answer"].into_iter().enumerate() {
        sheet.write_string(0, col as u16, title).unwrap();
    }
    sheet.write_string(100_000, 63, "far").unwrap();
    let file = book.save_to_buffer().unwrap();
    let mut outcome = None;
    let growth = peak_growth_mib(|| outcome = Some(parse(&file, Format::Xlsx)));
    let parsed = outcome.unwrap().unwrap();
    assert!(parsed.rows.is_empty(), "the far cell is no FAQ");
    assert!(!parsed.problems.is_empty() && parsed.problems.iter().all(|p| p.line == 100_001), "{:?}", parsed.problems);
    assert!(growth < 64, "the process grew by {growth} MiB");
}

#[test]
fn a_workbook_within_the_bounds_still_reads_sparse_cells_in_place() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, title) in ["id", "question", "answer"].into_iter().enumerate() {
        sheet.write_string(0, col as u16, title).unwrap();
    }
    sheet.write_string(1, 0, "far").unwrap();
    sheet.write_string(1, 1, "Where?").unwrap();
    sheet.write_string(1, 2, "Here.").unwrap();
    sheet.write_number(3, 0, 42.0).unwrap();
    sheet.write_string(3, 1, "Gap above?").unwrap();
    sheet.write_string(3, 2, "Skipped.").unwrap();
    let file = parse(&book.save_to_buffer().unwrap(), Format::Xlsx).unwrap();
    let ids: Vec<(usize, &str)> = file.rows.iter().map(|r| (r.line, r.faq_id.as_str())).collect();
    assert_eq!(ids, [(2, "far"), (4, "42")], "line numbers keep the empty row between");
}
