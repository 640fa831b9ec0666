//! Recorded consent: which scopes a user has allowed a client (OIDC Core §3.1.2.4).

use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

use super::entities::consent;
use super::{Directory, DirectoryError, from_json, now, to_json};

impl Directory {
    /// Whether the user already allowed this client every scope in `scopes`.
    pub async fn consent_covers(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> Result<bool, DirectoryError> {
        let Some(row) = consent::Entity::find_by_id((user_id.to_string(), client_id.to_string())).one(&self.db).await?
        else {
            return Ok(false);
        };
        let granted: Vec<String> = from_json(&row.scopes, "consents.scopes")?;
        Ok(scopes.iter().all(|s| granted.contains(s)))
    }

    /// Adds `scopes` to what the user has allowed the client.
    pub async fn record_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> Result<(), DirectoryError> {
        let existing = consent::Entity::find_by_id((user_id.to_string(), client_id.to_string())).one(&self.db).await?;
        let mut merged: Vec<String> = match existing {
            Some(row) => from_json(&row.scopes, "consents.scopes")?,
            None => Vec::new(),
        };
        for scope in scopes {
            if !merged.contains(scope) {
                merged.push(scope.clone());
            }
        }
        let model = consent::ActiveModel {
            user_id: Set(user_id.to_string()),
            client_id: Set(client_id.to_string()),
            scopes: Set(to_json(&merged)),
            granted_at: Set(now()),
        };
        consent::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
                    .update_columns([consent::Column::Scopes, consent::Column::GrantedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }
}
