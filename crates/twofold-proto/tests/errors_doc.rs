//! Checks that `docs/errors.md` lists every catalog errorId with the status and message that
//! `ErrorId` has, and the 429 row with the rate-limit constants.

use std::collections::BTreeMap;
use std::path::Path;

use twofold_proto::error_catalog::{ErrorId, RATE_LIMITED_HTTP_STATUS, RATE_LIMITED_MESSAGE};

/// Header row of every code table in the document.
const TABLE_HEADER: [&str; 4] = ["HTTP status", "errorId", "message", "when Twofold returns it"];

/// errorId cell of the row without errorId (HTTP 429).
const NO_ERROR_ID: &str = "—";

/// One table row of the document.
#[derive(Debug)]
struct DocRow {
    /// 1-based line number in the document.
    line: usize,
    /// HTTP status cell.
    status: String,
    /// errorId cell.
    error_id: String,
    /// Message cell, with Markdown backslash escapes removed.
    message: String,
    /// Condition cell.
    when: String,
}

fn read_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Splits a Markdown table line into trimmed cells; `\|` does not split.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cell.push(c);
                if let Some(next) = chars.next() {
                    cell.push(next);
                }
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_owned()),
            c => cell.push(c),
        }
    }
    out.push(cell.trim().to_owned());
    out
}

/// Removes Markdown backslash escapes (`\<` → `<`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next)) if next.is_ascii_punctuation() => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every row of every code table (tables whose header is [`TABLE_HEADER`]).
fn doc_rows(doc: &str) -> Vec<DocRow> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (i, line) in doc.lines().enumerate() {
        let line_no = i + 1;
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        let cells = cells(line);
        if cells == TABLE_HEADER {
            in_table = true;
            continue;
        }
        if !in_table || cells.iter().all(|c| c.chars().all(|c| matches!(c, '-' | ':'))) {
            continue;
        }
        let [status, error_id, message, when] = <[String; 4]>::try_from(cells)
            .unwrap_or_else(|c| panic!("errors.md:{line_no}: expected 4 cells, got {c:?}"));
        rows.push(DocRow {
            line: line_no,
            status,
            error_id,
            message: unescape(&message),
            when,
        });
    }
    rows
}

#[test]
fn every_catalog_code_is_documented_correctly() {
    let doc = read_doc();
    let rows = doc_rows(&doc);
    assert!(!rows.is_empty(), "errors.md has no code tables");

    let mut documented: BTreeMap<ErrorId, usize> = BTreeMap::new();
    let mut rate_limited_rows = 0;
    let mut problems = Vec::new();
    for row in &rows {
        let at = format!("errors.md:{}", row.line);
        if row.when.is_empty() {
            problems.push(format!("{at}: empty 'when' cell"));
        }
        let Ok(status) = row.status.parse::<u16>() else {
            problems.push(format!("{at}: bad HTTP status {:?}", row.status));
            continue;
        };
        if row.error_id == NO_ERROR_ID {
            rate_limited_rows += 1;
            if status != RATE_LIMITED_HTTP_STATUS {
                problems.push(format!(
                    "{at}: row without errorId has status {status}, expected {RATE_LIMITED_HTTP_STATUS}"
                ));
            }
            if row.message != RATE_LIMITED_MESSAGE {
                problems.push(format!(
                    "{at}: 429 message {:?} differs from {RATE_LIMITED_MESSAGE:?}",
                    row.message
                ));
            }
            continue;
        }
        let Ok(code) = row.error_id.parse::<u32>() else {
            problems.push(format!("{at}: bad errorId {:?}", row.error_id));
            continue;
        };
        let Some(id) = ErrorId::from_code(code) else {
            problems.push(format!("{at}: errorId {code} is not in the catalog"));
            continue;
        };
        if let Some(first) = documented.insert(id, row.line) {
            problems.push(format!("{at}: errorId {code} already listed on line {first}"));
        }
        if status != id.http_status() {
            problems.push(format!(
                "{at}: errorId {code} has HTTP status {status}, catalog says {}",
                id.http_status()
            ));
        }
        if row.message != id.message() {
            problems.push(format!(
                "{at}: errorId {code} message {:?} differs from {:?}",
                row.message,
                id.message()
            ));
        }
    }
    for id in ErrorId::ALL {
        if !documented.contains_key(id) {
            problems.push(format!("errorId {} ({id:?}) is missing from errors.md", id.code()));
        }
    }
    if rate_limited_rows != 1 {
        problems.push(format!(
            "expected exactly one {RATE_LIMITED_HTTP_STATUS} row without errorId, found {rate_limited_rows}"
        ));
    }
    assert!(problems.is_empty(), "docs/errors.md:\n{}", problems.join("\n"));
}

#[test]
fn markdown_helpers() {
    assert_eq!(cells("| a | b \\| c | d |"), ["a", "b \\| c", "d"]);
    assert_eq!(unescape("token ‘\\<serial\\>’ a\\b"), "token ‘<serial>’ a\\b");
}
