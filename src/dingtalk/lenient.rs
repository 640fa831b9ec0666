//! Tolerant decoding of DingTalk numbers and booleans.
//!
//! docs/dingtalk-api.md §5.0: official examples print numbers and
//! booleans as strings (`"errcode": "0"`), while the SDK models use real numbers. The
//! client accepts both spellings so a sloppy gateway never turns into a login failure.

use serde::{Deserialize, Deserializer};

/// An integer that may arrive as a JSON number or as a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LenientI64(pub i64);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Int(n) => Ok(Self(n)),
            // Ids never carry fractions; a float here is a number the gateway printed as `2.0`.
            Raw::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Self(f as i64)),
            Raw::Float(_) => Err(serde::de::Error::custom("expected an integer")),
            Raw::Text(s) => s
                .trim()
                .parse()
                .map(Self)
                .map_err(|_| serde::de::Error::custom("expected an integer or numeric string")),
        }
    }
}

/// A boolean that may arrive as `true`/`false` or as the strings `"true"`/`"false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LenientBool(pub bool);

impl<'de> Deserialize<'de> for LenientBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
            Int(i64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bool(b) => Ok(Self(b)),
            Raw::Int(n) => Ok(Self(n != 0)),
            Raw::Text(s) => match s.trim() {
                "true" | "1" => Ok(Self(true)),
                "false" | "0" => Ok(Self(false)),
                _ => Err(serde::de::Error::custom("expected a boolean")),
            },
        }
    }
}

/// A string that may arrive as a JSON string or number (`sub_code` is `"60011"` in the
/// §6.2 example but a number in some gateways' output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LenientString(pub String);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(s) => Ok(Self(s)),
            Raw::Int(n) => Ok(Self(n.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_written_as_strings_are_accepted() {
        let v: Vec<LenientI64> = serde_json::from_str(r#"[1, "2", " 3 ", 4.0]"#).unwrap();
        assert_eq!(v, vec![LenientI64(1), LenientI64(2), LenientI64(3), LenientI64(4)]);
        assert!(serde_json::from_str::<LenientI64>(r#""x""#).is_err());
    }

    #[test]
    fn booleans_written_as_strings_are_accepted() {
        let v: Vec<LenientBool> = serde_json::from_str(r#"[true, "false", "true", 0]"#).unwrap();
        assert_eq!(v, vec![LenientBool(true), LenientBool(false), LenientBool(true), LenientBool(false)]);
    }

    #[test]
    fn sub_code_may_be_a_number_or_a_string() {
        let v: Vec<LenientString> = serde_json::from_str(r#"["60011", 60011]"#).unwrap();
        assert_eq!(v[0], v[1]);
    }
}
