//! Fingerprints: a short, stable digest of everything that changes a result, so a
//! finished run is reused only when it was computed under the same settings.

/// MD5 (hex) of the canonical JSON of `value`. serde_json's maps keep keys sorted, so
/// the same settings give the same text whatever order they were written in.
pub fn fingerprint(value: &serde_json::Value) -> String {
    use md5::Digest;
    let text = serde_json::to_string(value).unwrap_or_default();
    md5::Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_matter_but_values_do() {
        let a: serde_json::Value = serde_json::from_str(r#"{"x": 1, "y": [1, 2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"y": [1, 2], "x": 1}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"y": [1, 2], "x": 2}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 32);
    }
}
