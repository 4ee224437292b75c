//! The docs that describe the rules and the errors are checked against the code.

use model::GraphError;
use model::rules::{implications_markdown, rules_markdown};

fn doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn access_rules_doc_shows_the_rules_table_as_the_code_has_it() {
    let text = doc("access-rules.md");
    assert!(
        text.contains(&rules_markdown()),
        "docs/access-rules.md is out of date; it must contain:\n{}",
        rules_markdown()
    );
    assert!(
        text.contains(&implications_markdown()),
        "docs/access-rules.md is out of date; it must contain:\n{}",
        implications_markdown()
    );
}

#[test]
fn errors_doc_lists_every_error_wabagate_returns() {
    let text = doc("errors.md");
    for (name, e) in GraphError::catalogue() {
        let subcode = e.subcode.map(|s| s.to_string()).unwrap_or_else(|| "—".into());
        let row = format!("| `{name}` | {} | {subcode} | {} | {} |", e.code, e.kind, e.status);
        assert!(text.contains(&row), "docs/errors.md lacks the row:\n{row}");
        assert!(text.contains(&e.message), "docs/errors.md lacks the message of {name}: {}", e.message);
    }
}
