//! The docs that describe the rules and the errors are checked against the code: each table sits
//! between markers and must be exactly what `cargo run -p wabagate-model --example rules_tables`
//! prints.

use model::error::errors_markdown;
use model::rules::{implications_markdown, matrix_markdown, rules_markdown};

fn doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[track_caller]
fn assert_section(doc_name: &str, marker: &str, want: &str) {
    let text = doc(doc_name);
    let open = format!("<!-- {marker} -->\n");
    let close = format!("<!-- /{marker} -->");
    let start = text.find(&open).unwrap_or_else(|| panic!("docs/{doc_name} has no {open}")) + open.len();
    let end = text[start..].find(&close).unwrap_or_else(|| panic!("docs/{doc_name} has no {close}")) + start;
    assert_eq!(
        &text[start..end],
        want,
        "docs/{doc_name} is out of date: run `cargo run -p wabagate-model --example rules_tables`"
    );
}

#[test]
fn access_rules_doc_shows_the_rules_table_as_the_code_has_it() {
    assert_section("access-rules.md", "rules", &rules_markdown());
    assert_section("access-rules.md", "implications", &implications_markdown());
    assert_section("access-rules.md", "matrix", &matrix_markdown());
}

#[test]
fn errors_doc_lists_every_error_wabagate_returns() {
    assert_section("errors.md", "errors", &errors_markdown());
}
