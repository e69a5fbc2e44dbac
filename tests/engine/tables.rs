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
