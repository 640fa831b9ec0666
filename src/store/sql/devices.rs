//! Device authorization requests in SQL (RFC 8628): four kinds of rows in `session_records`, all
//! keyed by the device code hash except the user code's index. "Once" (a user code, an answer, a
//! poll gate) is an insert that does nothing on conflict: of racing writers exactly one inserts.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::kinds::{DEVICE_DECISION, DEVICE_GATE, DEVICE_REQUEST, DEVICE_USER_CODE};
use super::rows::{get, put, row};
use super::{SqlSessionStore, unavailable};
use crate::directory::entities::session_record::{self, Column};
use crate::store::ttl::{expires, now};
use crate::store::{DeviceDecision, DeviceGrantStore, DeviceLookup, DevicePoll, DeviceRequest, StoreError};

impl SqlSessionStore {
    /// Inserts the row unless a live one of that kind and id exists (an expired one is cleared
    /// first); true when this call inserted it.
    pub(super) async fn insert_new<T: serde::Serialize>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        session_record::Entity::delete_many()
            .filter(Column::Kind.eq(kind))
            .filter(Column::Id.eq(id))
            .filter(Column::ExpiresAt.lte(now()))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        let inserted = session_record::Entity::insert(row(kind, id, None, value, expires_at)?)
            .on_conflict(OnConflict::columns([Column::Kind, Column::Id]).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(inserted > 0)
    }
}

#[async_trait]
impl DeviceGrantStore for SqlSessionStore {
    async fn put_device_request(
        &self,
        device_code_hash: &str,
        user_code_hash: &str,
        request: &DeviceRequest,
        keep_secs: u64,
    ) -> Result<bool, StoreError> {
        if !self.insert_new(DEVICE_USER_CODE, user_code_hash, &device_code_hash, expires(keep_secs)).await? {
            return Ok(false);
        }
        put(&self.db, DEVICE_REQUEST, device_code_hash, None, request, expires(keep_secs)).await?;
        Ok(true)
    }

    async fn device_request_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceLookup>, StoreError> {
        let now = now();
        let Some(device_code_hash) = get::<_, String>(&self.db, DEVICE_USER_CODE, user_code_hash, now).await? else {
            return Ok(None);
        };
        let Some(request) = get::<_, DeviceRequest>(&self.db, DEVICE_REQUEST, &device_code_hash, now).await? else {
            return Ok(None);
        };
        let decision = get::<_, DeviceDecision>(&self.db, DEVICE_DECISION, &device_code_hash, now).await?;
        Ok(Some(DeviceLookup { device_code_hash, request, decided: decision.is_some() }))
    }

    async fn decide_device_request(
        &self,
        device_code_hash: &str,
        decision: &DeviceDecision,
        keep_secs: u64,
    ) -> Result<bool, StoreError> {
        self.insert_new(DEVICE_DECISION, device_code_hash, decision, expires(keep_secs)).await
    }

    async fn poll_device_request(
        &self,
        device_code_hash: &str,
        gate_secs: u64,
    ) -> Result<Option<DevicePoll>, StoreError> {
        let now = now();
        let Some(request) = get::<_, DeviceRequest>(&self.db, DEVICE_REQUEST, device_code_hash, now).await? else {
            return Ok(None);
        };
        let decision = get(&self.db, DEVICE_DECISION, device_code_hash, now).await?;
        let gate_opened = self.insert_new(DEVICE_GATE, device_code_hash, &1, expires(gate_secs.max(1))).await?;
        Ok(Some(DevicePoll { request, decision, too_soon: !gate_opened }))
    }
}
