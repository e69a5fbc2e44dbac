//! Tables written and read as CSV: a header and rows of plain cells (numbers in Rust's
//! shortest round-trip form, `inf`/`NaN` as Python and NumPy read them).

use std::path::Path;

use anyhow::{bail, Context as _, Result};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

fn split_line(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(
            row.len(),
            self.header.len(),
            "row length differs from the header"
        );
        self.rows.push(row);
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
        let mut s = self
            .header
            .iter()
            .map(|h| quote(h))
            .collect::<Vec<_>>()
            .join(",");
        s.push('\n');
        for row in &self.rows {
            s.push_str(&row.iter().map(|c| quote(c)).collect::<Vec<_>>().join(","));
            s.push('\n');
        }
        s
    }

    /// Writes atomically (a temporary file renamed into place), so an interrupted run
    /// never leaves a half-written table.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_csv().as_bytes())
    }

    pub fn read(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header = split_line(
            lines
                .next()
                .with_context(|| format!("{} is empty", path.display()))?,
        );
        let mut rows = Vec::new();
        for (i, line) in lines.enumerate() {
            let row = split_line(line);
            if row.len() != header.len() {
                bail!(
                    "{} line {}: {} cells, the header has {}",
                    path.display(),
                    i + 2,
                    row.len(),
                    header.len()
                );
            }
            rows.push(row);
        }
        Ok(Table { header, rows })
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

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
        ]);
        t.push(vec![f64::NAN.to_string(), "-0".into(), String::new()]);
        let dir = std::env::temp_dir().join(format!("wideprobe-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        t.write(&p).unwrap();
        let back = Table::read(&p).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.f64(0, 1), f64::INFINITY);
        assert!(back.f64(1, 0).is_nan());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
