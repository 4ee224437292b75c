//! Prints the tables `docs/access-rules.md` and `docs/errors.md` embed, between the markers they
//! use: `cargo run -p wabagate-model --example rules_tables`.
fn main() {
    println!("<!-- rules -->\n{}<!-- /rules -->\n", wabagate_model::rules::rules_markdown());
    println!("<!-- implications -->\n{}<!-- /implications -->\n", wabagate_model::rules::implications_markdown());
    println!("<!-- matrix -->\n{}<!-- /matrix -->\n", wabagate_model::rules::matrix_markdown());
    println!("<!-- errors -->\n{}<!-- /errors -->", wabagate_model::error::errors_markdown());
}
