//! Recorded consent: which scopes a user has allowed a client (OIDC Core §3.1.2.4).

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::OnConflict};

use super::entities::consent;
use super::{Directory, DirectoryError, from_json, now, to_json};

/// What a user has allowed one client, and when they last allowed more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

impl Consent {
    fn from_row(row: consent::Model) -> Result<Consent, DirectoryError> {
        Ok(Consent {
            scopes: from_json(&row.scopes, "consents.scopes")?,
            client_id: row.client_id,
            granted_at: row.granted_at,
        })
    }
}

impl Directory {
    /// What the user has allowed the client, if anything.
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<Consent>, DirectoryError> {
        let row = consent::Entity::find_by_id((user_id.to_string(), client_id.to_string())).one(&self.db).await?;
        row.map(Consent::from_row).transpose()
    }

    /// Every client the user has allowed something, most recent first.
    pub async fn consents_of_user(&self, user_id: &str) -> Result<Vec<Consent>, DirectoryError> {
        let rows = consent::Entity::find()
            .filter(consent::Column::UserId.eq(user_id))
            .order_by_desc(consent::Column::GrantedAt)
            .order_by_asc(consent::Column::ClientId)
            .all(&self.db)
            .await?;
        rows.into_iter().map(Consent::from_row).collect()
    }

    /// Forgets what the user allowed the client: the next sign-in at it asks again. False if
    /// there was nothing to forget.
    pub async fn withdraw_consent(&self, user_id: &str, client_id: &str) -> Result<bool, DirectoryError> {
        let deleted =
            consent::Entity::delete_by_id((user_id.to_string(), client_id.to_string())).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Whether the user already allowed this client every scope in `scopes`.
    pub async fn consent_covers(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> Result<bool, DirectoryError> {
        let consent = self.consent(user_id, client_id).await?;
        Ok(consent.is_some_and(|c| scopes.iter().all(|s| c.scopes.contains(s))))
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
