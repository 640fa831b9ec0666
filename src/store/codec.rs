//! How both backends write a record: JSON, the same text in a SQL row and a Redis value, so a
//! record reads the same whichever store holds it. A record that does not decode is corrupt, not
//! an outage.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A reply or row that is not what the store wrote.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
