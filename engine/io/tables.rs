//! The project's CSV tables, typed: one struct per file, each with its columns (in the
//! order the files have them), its row as cells, and its rows read back from a table by
//! column name. The writers, the figures and the report all use these, so a column list
//! is written once. Columns are added, never renamed or reordered.
//!
//! Reading: `Option` fields are `None` for an empty cell (a quantity not measured at that
//! epoch); other fields read an empty cell as NaN, 0 or false (a column an older file
//! lacks). A cell that holds something else than its type is an error naming the file,
//! row and column (a figure must not silently drop an edited or corrupted value), as is
//! a missing column.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::table::Table;

/// One cell's text, written and read back; `from_cell` says what is wrong with a cell
/// that is not of its type.
pub trait Cell: Sized {
    fn to_cell(&self) -> String;
    fn from_cell(cell: &str) -> Result<Self, String>;
}

impl Cell for f64 {
    fn to_cell(&self) -> String {
        self.to_string()
    }
    fn from_cell(cell: &str) -> Result<Self, String> {
        if cell.is_empty() {
            return Ok(f64::NAN);
        }
        cell.parse()
            .map_err(|_| format!("`{cell}` is not a number"))
    }
}

/// A count: digits, or a number with no fractional part (`64.0`).
fn count_from_cell(cell: &str) -> Result<u64, String> {
    if cell.is_empty() {
        return Ok(0);
    }
    if let Ok(v) = cell.parse::<u64>() {
        return Ok(v);
    }
    match cell.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 => Ok(v as u64),
        _ => Err(format!("`{cell}` is not a whole number")),
    }
}

impl Cell for usize {
    fn to_cell(&self) -> String {
        self.to_string()
    }
    fn from_cell(cell: &str) -> Result<Self, String> {
        let v = count_from_cell(cell)?;
        usize::try_from(v).map_err(|_| format!("`{cell}` is too large"))
    }
}

impl Cell for u64 {
    fn to_cell(&self) -> String {
        self.to_string()
    }
    fn from_cell(cell: &str) -> Result<Self, String> {
        count_from_cell(cell)
    }
}

impl Cell for bool {
    fn to_cell(&self) -> String {
        self.to_string()
    }
    fn from_cell(cell: &str) -> Result<Self, String> {
        // Also pandas' spelling and 1/0, for tables edited elsewhere.
        match cell {
            "true" | "True" | "1" => Ok(true),
            "false" | "False" | "0" | "" => Ok(false),
            _ => Err(format!("`{cell}` is neither true nor false")),
        }
    }
}

impl Cell for String {
    fn to_cell(&self) -> String {
        self.clone()
    }
    fn from_cell(cell: &str) -> Result<Self, String> {
        Ok(cell.to_string())
    }
}

/// Empty when not measured.
impl<T: Cell> Cell for Option<T> {
    fn to_cell(&self) -> String {
        self.as_ref().map(Cell::to_cell).unwrap_or_default()
    }
    fn from_cell(cell: &str) -> Result<Self, String> {
        if cell.is_empty() {
            return Ok(None);
        }
        T::from_cell(cell).map(Some)
    }
}

/// Cell `column` of data row `row` (0-based) read as `T`, or an error naming both.
fn cell_at<T: Cell>(cells: &[String], at: Option<usize>, row: usize, column: &str) -> Result<T> {
    let text = at.map_or("", |i| cells[i].as_str());
    T::from_cell(text).map_err(|why| {
        anyhow::anyhow!(
            "row {} (after the header), column {column}: {why}: correct or remove the row, \
             or recompute the run (`--force`)",
            row + 1
        )
    })
}

/// A row of one of the project's tables.
pub trait Row: Sized {
    /// The columns, in file order.
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
    /// The rows of `table`, its columns found by name (extra columns are ignored).
    fn from_table(table: &Table) -> Result<Vec<Self>>;

    /// A table with these rows.
    fn table(rows: &[Self]) -> Result<Table> {
        let mut table = Table::new(Self::COLUMNS);
        for row in rows {
            table.push(row.cells())?;
        }
        Ok(table)
    }

    /// Reads the rows of the CSV file at `path`.
    fn read(path: &Path) -> Result<Vec<Self>> {
        Self::from_table(&Table::read(path)?).with_context(|| format!("in {}", path.display()))
    }
}

/// Columns added after tables were first written: files from before them read as empty.
const ADDED_LATER: &[&str] = &[
    "method",
    "spectral_readbacks",
    "loss_reduction",
    "network_precision",
];

/// A run's table read to be joined under `header` (an aggregate's): columns of
/// [`ADDED_LATER`] that a file written before them lacks become empty cells, in
/// `header`'s order, so finished runs of an older wideprobe still merge. Any other
/// difference is an error naming the file and the columns.
pub fn read_for_join(path: &Path, header: &[String]) -> Result<Table> {
    let table = Table::read(path)?;
    if table.header == header {
        return Ok(table);
    }
    let index: Vec<Option<usize>> = header
        .iter()
        .map(|c| table.header.iter().position(|h| h == c))
        .collect();
    let foreign = header
        .iter()
        .zip(&index)
        .any(|(c, i)| i.is_none() && !ADDED_LATER.contains(&c.as_str()))
        || table.header.iter().any(|h| !header.contains(h));
    if foreign {
        anyhow::bail!(
            "{} has the columns {} where {} are expected: recompute that run (`--force`)",
            path.display(),
            table.header.join(","),
            header.join(",")
        );
    }
    let rows = table
        .rows
        .iter()
        .map(|row| {
            index
                .iter()
                .map(|i| i.map_or_else(String::new, |i| row[i].clone()))
                .collect()
        })
        .collect();
    Ok(Table {
        header: header.to_vec(),
        rows,
    })
}

/// The index of `column`; `None` for a column of [`ADDED_LATER`] that an older file lacks.
fn optional_column(table: &Table, column: &str) -> Result<Option<usize>> {
    match table.column(column) {
        Ok(i) => Ok(Some(i)),
        Err(_) if ADDED_LATER.contains(&column) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Declares a row struct: each field with its type and its column's name.
macro_rules! table_row {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty = $column:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty,)* }

        impl Row for $name {
            const COLUMNS: &'static [&'static str] = &[$($column),*];

            fn cells(&self) -> Vec<String> {
                vec![$(self.$field.to_cell()),*]
            }

            fn from_table(table: &Table) -> Result<Vec<Self>> {
                let ($($field,)*) = ($(optional_column(table, $column)?,)*);
                table
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(r, cells)| {
                        Ok($name {
                            $($field: cell_at(cells, $field, r, $column)?,)*
                        })
                    })
                    .collect()
            }
        }
    };
}

table_row! {
    /// `layers.csv`: one layer of one conditioning run (MEASUREMENTS.md §3, §4).
    pub struct LayerRow {
        run_id: String = "run_id",
        dataset: String = "dataset",
        width: usize = "width",
        depth: usize = "depth",
        n: usize = "n",
        activation: String = "activation",
        renormalize: bool = "renormalize",
        seed: u64 = "seed",
        layer: usize = "layer",
        layer_width: usize = "layer_width",
        lambda_min: f64 = "lambda_min",
        lambda_min_bound: f64 = "lambda_min_bound",
        lambda_max: f64 = "lambda_max",
        lambda_max_bound: f64 = "lambda_max_bound",
        kappa: f64 = "kappa",
        log10_kappa: f64 = "log10_kappa",
        converged: bool = "converged",
        lanczos_steps: usize = "lanczos_steps",
        rank_deficient: bool = "rank_deficient",
        min_diag: f64 = "min_diag",
        max_offdiag_rowsum: f64 = "max_offdiag_rowsum",
        max_abs_offdiag: f64 = "max_abs_offdiag",
        gershgorin_lower: f64 = "gershgorin_lower",
        gershgorin_upper: f64 = "gershgorin_upper",
        precision: String = "precision",
        method: String = "method",
        spectral_readbacks: String = "spectral_readbacks",
        /// f32 or f64 (empty in files written before the column, which were f32).
        network_precision: String = "network_precision",
    }
}

table_row! {
    /// `infinite_width.csv`: one layer of the infinite-width kernel of a grid point.
    pub struct InfiniteRow {
        dataset: String = "dataset",
        depth: usize = "depth",
        n: usize = "n",
        activation: String = "activation",
        renormalize: bool = "renormalize",
        seed: u64 = "seed",
        layer: usize = "layer",
        lambda_min: f64 = "lambda_min",
        lambda_min_bound: f64 = "lambda_min_bound",
        lambda_max: f64 = "lambda_max",
        lambda_max_bound: f64 = "lambda_max_bound",
        kappa: f64 = "kappa",
        log10_kappa: f64 = "log10_kappa",
        converged: bool = "converged",
    }
}

/// Declares a row of a training table: the columns identifying the run first, then the
/// table's own (also listed as `OWN_COLUMNS`).
macro_rules! training_row {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty = $column:literal,)*
    }) => {
        impl $name {
            /// The columns after those identifying the run.
            pub const OWN_COLUMNS: &'static [&'static str] = &[$($column),*];
        }

        table_row! {
            $(#[$meta])*
            pub struct $name {
                run_id: String = "run_id",
                dataset: String = "dataset",
                depth: usize = "depth",
                width: usize = "width",
                n: usize = "n",
                activation: String = "activation",
                loss: String = "loss",
                /// half_sum or mean (empty in files written before the column).
                loss_reduction: String = "loss_reduction",
                lr: f64 = "lr",
                renormalize: bool = "renormalize",
                bias: bool = "bias",
                seed: u64 = "seed",
                /// f32 or f64 (empty in files written before the column, which were f32).
                network_precision: String = "network_precision",
                $($(#[$fmeta])* $field: $ty = $column,)*
            }
        }
    };
}

training_row! {
    /// `runs.csv`: how one training run ended.
    pub struct RunRow {
        /// done, diverged or failed; a failed run has only `passes_accuracy_filter` (false)
        /// and `seconds` besides.
        status: String = "status",
        epochs_run: Option<usize> = "epochs_run",
        diverged_epoch: Option<usize> = "diverged_epoch",
        final_train_loss: Option<f64> = "final_train_loss",
        final_train_accuracy: Option<f64> = "final_train_accuracy",
        final_test_loss: Option<f64> = "final_test_loss",
        final_test_accuracy: Option<f64> = "final_test_accuracy",
        passes_accuracy_filter: bool = "passes_accuracy_filter",
        seconds: f64 = "seconds",
    }
}

training_row! {
    /// `epochs.csv`: one epoch of one training run (MEASUREMENTS.md §5-§8); an empty
    /// cell is a quantity not measured or not defined at that epoch.
    pub struct EpochRow {
        epoch: usize = "epoch",
        train_loss: f64 = "train_loss",
        train_accuracy: f64 = "train_accuracy",
        test_loss: Option<f64> = "test_loss",
        test_accuracy: Option<f64> = "test_accuracy",
        grad_norm: f64 = "grad_norm",
        mu_grad: f64 = "mu_grad",
        l_secant: Option<f64> = "L_secant",
        ntk_lambda_min: Option<f64> = "ntk_lambda_min",
        ntk_lambda_min_bound: Option<f64> = "ntk_lambda_min_bound",
        ntk_lambda_max: Option<f64> = "ntk_lambda_max",
        ntk_lambda_max_bound: Option<f64> = "ntk_lambda_max_bound",
        ntk_kappa: Option<f64> = "ntk_kappa",
        ntk_log10_kappa: Option<f64> = "ntk_log10_kappa",
        ntk_converged: Option<bool> = "ntk_converged",
        ntk_method: String = "ntk_method",
        ntk_precision: String = "ntk_precision",
        mu_ntk: Option<f64> = "mu_ntk",
        l_ntk: Option<f64> = "L_ntk",
        bound_lemma1_ntk: Option<f64> = "bound_lemma1_ntk",
        bound_eta_ntk: Option<f64> = "bound_eta_ntk",
        ratio_lemma1_ntk: Option<f64> = "ratio_lemma1_ntk",
        ratio_eta_ntk: Option<f64> = "ratio_eta_ntk",
        eta_exceeds_2_over_l_ntk: Option<bool> = "eta_exceeds_2_over_L_ntk",
        bound_lemma1_grad: Option<f64> = "bound_lemma1_grad",
        bound_eta_grad: Option<f64> = "bound_eta_grad",
        ratio_lemma1_grad: Option<f64> = "ratio_lemma1_grad",
        ratio_eta_grad: Option<f64> = "ratio_eta_grad",
        eta_exceeds_2_over_l_grad: Option<bool> = "eta_exceeds_2_over_L_grad",
        gram_lambda_min: Option<f64> = "gram_lambda_min",
        gram_lambda_max: Option<f64> = "gram_lambda_max",
        gram_log10_kappa: Option<f64> = "gram_log10_kappa",
        gram_frobenius_change: Option<f64> = "gram_frobenius_change",
        lambda_min_lower_eq13: Option<f64> = "lambda_min_lower_eq13",
        g_lipschitz: Option<f64> = "G_lipschitz",
        lemma2_m: Option<f64> = "lemma2_M",
        lemma2_delta: Option<f64> = "lemma2_delta",
        lemma2_beta_grad: Option<f64> = "lemma2_beta_grad",
        gen_bound_grad: Option<f64> = "gen_bound_grad",
        lemma2_beta_ntk: Option<f64> = "lemma2_beta_ntk",
        gen_bound_ntk: Option<f64> = "gen_bound_ntk",
        gen_gap: Option<f64> = "gen_gap",
        vacuous: Option<bool> = "vacuous",
        /// Empty at epochs where nothing was measured.
        precision: String = "precision",
    }
}

/// A quantity of an epoch row, NaN when not measured (for code that pools numbers).
pub fn value(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_error_names;

    #[test]
    fn rows_round_trip_through_tables() {
        let row = EpochRow {
            run_id: "r".into(),
            epoch: 3,
            ratio_eta_ntk: Some(0.5),
            vacuous: Some(true),
            lr: f64::INFINITY,
            ..Default::default()
        };
        let table = EpochRow::table(std::slice::from_ref(&row)).unwrap();
        assert_eq!(table.header, EpochRow::COLUMNS);
        let cells = &table.rows[0];
        assert_eq!(
            cells[EpochRow::COLUMNS
                .iter()
                .position(|c| *c == "test_loss")
                .unwrap()],
            ""
        );
        let back = EpochRow::from_table(&table).unwrap();
        assert_eq!(back, vec![row]);
    }

    #[test]
    fn an_older_run_table_joins_with_empty_added_columns_and_others_are_refused() {
        let dir = crate::io::scratch_dir("join");
        let header: Vec<String> = ["run_id", "layer", "network_precision", "kappa"]
            .map(String::from)
            .to_vec();
        let old = dir.join("old.csv");
        std::fs::write(&old, "run_id,layer,kappa\nr,3,2.5\n").unwrap();
        let joined = read_for_join(&old, &header).unwrap();
        assert_eq!(joined.header, header);
        assert_eq!(joined.rows, vec![vec!["r", "3", "", "2.5"]]);
        let foreign = dir.join("foreign.csv");
        std::fs::write(&foreign, "run_id,layer,kappa,extra\nr,3,2.5,1\n").unwrap();
        assert_error_names(
            read_for_join(&foreign, &header),
            &["foreign.csv", "--force"],
        );
        let lacking = dir.join("lacking.csv");
        std::fs::write(&lacking, "run_id,network_precision,kappa\nr,f32,2.5\n").unwrap();
        assert!(read_for_join(&lacking, &header).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_column_is_named() {
        let table = Table::new(&["run_id"]);
        let err = RunRow::from_table(&table).unwrap_err();
        assert!(
            format!("{err:#}").contains("no column `dataset`"),
            "{err:#}"
        );
    }

    #[test]
    fn empty_cells_read_as_absent_and_others_must_be_their_type() {
        assert!(f64::from_cell("").unwrap().is_nan());
        assert!(f64::from_cell("NaN").unwrap().is_nan());
        assert_eq!(f64::from_cell("inf").unwrap(), f64::INFINITY);
        assert_eq!(f64::from_cell("-1.5e-3").unwrap(), -1.5e-3);
        assert_eq!(usize::from_cell("64").unwrap(), 64);
        assert_eq!(usize::from_cell("64.0").unwrap(), 64);
        assert_eq!(u64::from_cell("").unwrap(), 0);
        assert_eq!(Option::<f64>::from_cell("").unwrap(), None);
        assert_eq!(Option::<bool>::from_cell("true").unwrap(), Some(true));
        assert!(!bool::from_cell("").unwrap());
        for bad in ["x", "1.2.3"] {
            assert!(f64::from_cell(bad).unwrap_err().contains(bad));
        }
        assert!(usize::from_cell("6.5").is_err());
        assert!(usize::from_cell("-1").is_err());
        assert!(bool::from_cell("yes").is_err());
        assert!(Option::<f64>::from_cell("abc").is_err());
    }

    /// An edited or corrupted cell is an error naming the file, row and column, not a
    /// point silently left out of a figure.
    #[test]
    fn a_cell_of_the_wrong_type_is_named() {
        let dir = crate::io::scratch_dir("tables-bad-cell");
        let path = dir.join("runs.csv");
        let mut rows = vec![RunRow::default(), RunRow::default()];
        rows[1].run_id = "second".into();
        let mut table = RunRow::table(&rows).unwrap();
        let column = table.column("seconds").unwrap();
        table.rows[1][column] = "abc".into();
        table.write(&path).unwrap();
        let err = format!("{:#}", RunRow::read(&path).unwrap_err());
        assert!(
            err.contains("runs.csv")
                && err.contains("row 2")
                && err.contains("seconds")
                && err.contains("`abc` is not a number"),
            "{err}"
        );
    }
}
