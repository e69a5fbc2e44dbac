//! Helpers of the library's own unit tests.

/// Asserts that `result` is an error whose message names every one of `parts` (the
/// values and fixes a user needs), as tests/engine/common's helper of the same name.
pub fn assert_error_names<T>(result: anyhow::Result<T>, parts: &[&str]) {
    let err = match result {
        Ok(_) => panic!("succeeded, but should have been an error naming {parts:?}"),
        Err(e) => e.to_string(),
    };
    assert!(parts.iter().all(|p| err.contains(p)), "{err}");
}
