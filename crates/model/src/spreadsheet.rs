//! CSV that is safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab
//! or a carriage return is a formula to Excel, LibreOffice and Google Sheets (a WABA named
//! `=HYPERLINK(…)` would become a link in an admin's access report), so such a cell is written
//! with a single quote in front, as OWASP recommends for CSV injection. Every cell of every CSV
//! wabagate writes (the console's `access.csv`, the CLI's `--output csv`) goes through
//! [`cell`]; a number such as `-1` reads as `'-1` there too.

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell as a spreadsheet shows it as text: prefixed with `'` if it could be a formula.
pub fn cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) { Cow::Owned(format!("'{text}")) } else { Cow::Borrowed(text) }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_that_a_spreadsheet_would_evaluate_are_quoted() {
        for formula in ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(cell(formula), format!("'{formula}"));
        }
        for text in ["Acme", "1234567890", "", " =1", "a=b", "'=1"] {
            assert_eq!(cell(text), text);
        }
    }
}
