//! Prints the rules tables that `docs/access-rules.md` embeds: `cargo run -p wabagate-model --example rules_tables`.
fn main() {
    println!("{}", wabagate_model::rules::rules_markdown());
    println!("{}", wabagate_model::rules::implications_markdown());
    for (name, e) in wabagate_model::GraphError::catalogue() {
        let subcode = e.subcode.map(|s| s.to_string()).unwrap_or_else(|| "—".into());
        println!("| `{name}` | {} | {subcode} | {} | {} | {} |", e.code, e.kind, e.status, e.message);
    }
}
