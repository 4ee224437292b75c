//! What a command prints: rows of named columns, as an aligned table (for people), CSV or JSON
//! (for scripts).

use std::io::Write;

use clap::ValueEnum;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub struct Rows {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    pub fn new(columns: &[&'static str]) -> Self {
        Rows { columns: columns.to_vec(), rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.table(),
            Format::Csv => self.csv(),
            Format::Json => self.json(),
        }
    }

    fn table(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(
            self.columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>().iter().map(String::as_str).collect(),
        );
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }

    fn csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(self.columns.iter().map(|c| model::spreadsheet::cell(c).into_owned()));
        for row in &self.rows {
            let _ = writer.write_record(row.iter().map(|c| model::spreadsheet::cell(c).into_owned()));
        }
        let _ = writer.flush();
        String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    fn json(&self) -> String {
        let items: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let map: Map<String, Value> =
                    self.columns.iter().zip(row).map(|(c, v)| (c.to_string(), Value::String(v.clone()))).collect();
                Value::Object(map)
            })
            .collect();
        serde_json::to_string_pretty(&items).unwrap_or_default() + "\n"
    }
}

/// Prints to standard output, ignoring a closed pipe (`wabagate … | head`).
pub fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        let mut r = Rows::new(&["id", "name"]);
        r.push(vec!["1".into(), "Ann, \"A\"".into()]);
        r.push(vec!["22".into(), "Bo".into()]);
        r
    }

    #[test]
    fn renders_tables_csv_and_json() {
        assert_eq!(rows().render(Format::Table), "ID  NAME\n1   Ann, \"A\"\n22  Bo\n");
        assert_eq!(rows().render(Format::Csv), "id,name\n1,\"Ann, \"\"A\"\"\"\n22,Bo\n");
        let json: Value = serde_json::from_str(&rows().render(Format::Json)).unwrap();
        assert_eq!(json, serde_json::json!([{"id": "1", "name": "Ann, \"A\""}, {"id": "22", "name": "Bo"}]));
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_evaluate_are_quoted() {
        let mut r = Rows::new(&["id", "name"]);
        r.push(vec!["1".into(), "=HYPERLINK(\"http://x\",\"y\")".into()]);
        assert_eq!(r.render(Format::Csv), "id,name\n1,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\n");
        assert!(r.render(Format::Table).contains(" =HYPERLINK"), "tables are for people: shown as is");
    }
}
