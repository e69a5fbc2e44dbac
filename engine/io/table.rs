//! Tables written and read as CSV: a header and rows of plain cells (numbers in Rust's
//! shortest round-trip form, `inf`/`NaN` as Python and NumPy read them).

use std::path::Path;

use anyhow::{bail, Context as _, Result};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; one whose length differs from the header's is an error.
    pub fn push(&mut self, row: Vec<String>) -> Result<()> {
        if row.len() != self.header.len() {
            bail!(
                "a row of {} cells for a table of {} columns ({}): build rows with the \
                 table's own row type (engine/io/tables.rs)",
                row.len(),
                self.header.len(),
                self.header.join(", ")
            );
        }
        self.rows.push(row);
        Ok(())
    }

    /// Appends the rows of `other`, which must have the same header.
    pub fn extend(&mut self, other: Table) -> Result<()> {
        if self.header.is_empty() {
            self.header = other.header;
        } else if self.header != other.header {
            bail!("tables with different columns cannot be joined");
        }
        self.rows.extend(other.rows);
        Ok(())
    }

    pub fn column(&self, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no column `{name}` (columns: {})", self.header.join(", ")))
    }

    /// The cell of `row` in column `name` parsed as a number (NaN when empty).
    pub fn f64(&self, row: usize, column: usize) -> f64 {
        self.rows[row][column].parse().unwrap_or(f64::NAN)
    }

    pub fn to_csv(&self) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        // Writing to memory only fails on a bug in the csv crate.
        for record in std::iter::once(&self.header).chain(&self.rows) {
            writer.write_record(record).expect("writing CSV to memory");
        }
        let bytes = writer.into_inner().expect("flushing CSV to memory");
        String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
    }

    /// Writes atomically (a temporary file renamed into place), so an interrupted run
    /// never leaves a half-written table.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_csv().as_bytes())
    }

    pub fn read(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .with_context(|| format!("{}: not a CSV table", path.display()))?
            .iter()
            .map(str::to_string)
            .collect();
        if header.is_empty() || header == [""] {
            bail!("{} is empty", path.display());
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("{}: not a CSV table", path.display()))?;
            if record.len() != header.len() {
                bail!(
                    "{} line {}: {} cells, the header has {}",
                    path.display(),
                    record.position().map_or(0, |p| p.line()),
                    record.len(),
                    header.len()
                );
            }
            rows.push(record.iter().map(str::to_string).collect());
        }
        Ok(Table { header, rows })
    }
}

pub use super::atomic::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_quotes_and_special_numbers() {
        let mut t = Table::new(&["a", "b,c", "note"]);
        t.push(vec![
            "1.5".into(),
            f64::INFINITY.to_string(),
            "say \"hi\", then".into(),
        ])
        .unwrap();
        t.push(vec![f64::NAN.to_string(), "-0".into(), String::new()])
            .unwrap();
        let dir = crate::io::scratch_dir("table");
        let p = dir.join("t.csv");
        t.write(&p).unwrap();
        let back = Table::read(&p).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.f64(0, 1), f64::INFINITY);
        assert!(back.f64(1, 0).is_nan());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_row_of_the_wrong_length_is_an_error() {
        let mut t = Table::new(&["a", "b"]);
        let err = t.push(vec!["1".into()]).unwrap_err();
        assert!(err
            .to_string()
            .contains("a row of 1 cells for a table of 2 columns (a, b)"));
        assert!(t.rows.is_empty());
    }

    #[test]
    fn ragged_files_name_the_line() {
        let dir = crate::io::scratch_dir("ragged");
        let p = dir.join("t.csv");
        std::fs::write(&p, "a,b\n1,2\n3\n").unwrap();
        let err = format!("{:#}", Table::read(&p).unwrap_err());
        assert!(
            err.contains("t.csv line 3: 1 cells, the header has 2"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
