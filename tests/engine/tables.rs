//! The typed tables (engine/io/tables.rs) have exactly the columns the experiment
//! writers put in their files, in the same order; the writers' header functions stay
//! until they build rows from these types.

use wideprobe::experiment::conditioning::{infinite_header, layers_header};
use wideprobe::experiment::training::{epochs_header, runs_header};
use wideprobe::io::tables::{EpochRow, InfiniteRow, LayerRow, Row, RunRow};

#[test]
fn typed_tables_have_the_writers_columns_in_order() {
    assert_eq!(LayerRow::COLUMNS, layers_header().as_slice());
    assert_eq!(InfiniteRow::COLUMNS, infinite_header().as_slice());
    assert_eq!(EpochRow::COLUMNS, epochs_header().as_slice());
    assert_eq!(RunRow::COLUMNS, runs_header().as_slice());
}

#[test]
fn layers_tables_from_before_the_method_columns_still_read_and_other_gaps_do_not() {
    use wideprobe::io::table::Table;
    let old: Vec<&str> = LayerRow::COLUMNS
        .iter()
        .copied()
        .filter(|c| *c != "method" && *c != "spectral_readbacks")
        .collect();
    let mut table = Table::new(&old);
    table
        .push(
            old.iter()
                .map(|c| {
                    if *c == "precision" {
                        "f64".to_string()
                    } else {
                        "1".to_string()
                    }
                })
                .collect(),
        )
        .unwrap();
    let rows = LayerRow::from_table(&table).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].method, "");
    assert_eq!(rows[0].precision, "f64");
    // A column that always existed is still required.
    let without_kappa: Vec<&str> = old.iter().copied().filter(|c| *c != "kappa").collect();
    let mut broken = Table::new(&without_kappa);
    broken
        .push(without_kappa.iter().map(|_| "1".to_string()).collect())
        .unwrap();
    assert!(LayerRow::from_table(&broken).is_err());
}
