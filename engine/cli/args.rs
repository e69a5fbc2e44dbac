//! Value parsers for numeric flags: a bad value is refused when the command line is
//! parsed, with the accepted range in the message, before any file or GPU is touched.

/// A count that must be at least 1 (sizes, k, repeats).
pub fn positive(s: &str) -> Result<usize, String> {
    let value: usize = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number; give an integer >= 1"))?;
    if value == 0 {
        return Err("must be at least 1".to_string());
    }
    Ok(value)
}

/// The most timed or warm-up launches a bench makes: past it, a typo would hold the
/// machine for days.
pub const MAX_REPEATS: usize = 1_000_000;

/// A number of timed runs: 1 to [`MAX_REPEATS`].
pub fn repeats(s: &str) -> Result<usize, String> {
    let value = positive(s)?;
    at_most_max_repeats(value)
}

/// A number of warm-up runs: 0 to [`MAX_REPEATS`].
pub fn warmups(s: &str) -> Result<usize, String> {
    let value: usize = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number; give an integer >= 0"))?;
    at_most_max_repeats(value)
}

fn at_most_max_repeats(value: usize) -> Result<usize, String> {
    let fits = value <= MAX_REPEATS;
    fits.then_some(value)
        .ok_or_else(|| format!("{value} is more than {MAX_REPEATS}: give a smaller count"))
}

/// A relative tolerance: finite and strictly between 0 and 1.
pub fn tolerance(s: &str) -> Result<f64, String> {
    let value: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number; give a tolerance such as 1e-6"))?;
    if !(value.is_finite() && value > 0.0 && value < 1.0) {
        return Err(format!(
            "{value} is not a relative tolerance: give a finite number strictly between 0 and 1, e.g. 1e-6"
        ));
    }
    Ok(value)
}

/// A condition number: finite and at least 1.
pub fn condition_number(s: &str) -> Result<f64, String> {
    let value: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number; give a condition number such as 1e4"))?;
    if !(value.is_finite() && value >= 1.0) {
        return Err(format!(
            "{value} is not a condition number: give a finite number >= 1, e.g. 1e4"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_refuses_zero_negative_and_overflow() {
        assert_eq!(positive("7"), Ok(7));
        assert!(positive("0").is_err());
        assert!(positive("-1").is_err());
        assert!(positive("18446744073709551616").is_err());
    }

    #[test]
    fn tolerance_refuses_nan_infinite_and_out_of_range() {
        assert_eq!(tolerance("1e-6"), Ok(1e-6));
        for bad in ["NaN", "inf", "-inf", "-1", "0", "1", "2", "x"] {
            assert!(tolerance(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn condition_number_refuses_below_one_and_nan() {
        assert_eq!(condition_number("1"), Ok(1.0));
        for bad in ["NaN", "inf", "0.5", "-3"] {
            assert!(condition_number(bad).is_err(), "{bad} accepted");
        }
    }
}
