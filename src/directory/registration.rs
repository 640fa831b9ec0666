//! Dynamic client registration's credentials (RFC 7591 §3, RFC 7592 §1): the initial access tokens
//! admins issue to let a party register clients, and each registered client's registration access
//! token, with which it reads, changes and deletes its own registration. Both are kept as SHA-256
//! hashes and compared in constant time; the tokens themselves are shown once.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use super::entities::{client, initial_access_token};
use super::{Client, Directory, DirectoryError};
use crate::secrets;

/// An initial access token as admins see it: never the token, only its public id.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InitialAccessToken {
    /// Names the token in lists and revocation; not a credential.
    pub id: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<initial_access_token::Model> for InitialAccessToken {
    fn from(m: initial_access_token::Model) -> Self {
        InitialAccessToken { id: m.id, description: m.description, created_at: m.created_at, expires_at: m.expires_at }
    }
}

impl Directory {
    /// Issues an initial access token living until `expires_at`; returns it with its token, which
    /// is not stored and cannot be shown again.
    pub async fn issue_initial_token(
        &self,
        description: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(InitialAccessToken, String), DirectoryError> {
        if expires_at <= now {
            return Err(DirectoryError::Invalid("expires_at: must be in the future".into()));
        }
        if description.len() > 200 {
            return Err(DirectoryError::Invalid("description: at most 200 characters".into()));
        }
        let token = secrets::token();
        let model = initial_access_token::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            token_hash: Set(secrets::hash(&token)),
            description: Set(description.to_string()),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        let row = model.insert(&self.db).await?;
        Ok((row.into(), token))
    }

    pub async fn list_initial_tokens(&self) -> Result<Vec<InitialAccessToken>, DirectoryError> {
        let rows = initial_access_token::Entity::find()
            .order_by_asc(initial_access_token::Column::CreatedAt)
            .order_by_asc(initial_access_token::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(InitialAccessToken::from).collect())
    }

    /// Returns whether a token was revoked (deleted).
    pub async fn revoke_initial_token(&self, id: &str) -> Result<bool, DirectoryError> {
        let result = initial_access_token::Entity::delete_by_id(id.to_string()).exec(&self.db).await?;
        Ok(result.rows_affected > 0)
    }

    /// The live initial access token `presented` is, if any (looked up by its hash, which is
    /// unique; the comparison of the hash found is constant-time).
    pub async fn initial_token(&self, presented: &str, now: i64) -> Result<Option<InitialAccessToken>, DirectoryError> {
        let hash = secrets::hash(presented);
        let row = initial_access_token::Entity::find()
            .filter(initial_access_token::Column::TokenHash.eq(hash.clone()))
            .one(&self.db)
            .await?;
        Ok(row
            .filter(|r| secrets::secure_eq(r.token_hash.as_bytes(), hash.as_bytes()) && r.expires_at > now)
            .map(InitialAccessToken::from))
    }

    /// Gives `client_id` a new registration access token (the old one stops working); returns it.
    pub async fn new_registration_token(&self, client_id: &str) -> Result<String, DirectoryError> {
        let token = secrets::token();
        let result = client::Entity::update_many()
            .col_expr(client::Column::RegistrationTokenHash, sea_orm::sea_query::Expr::value(secrets::hash(&token)))
            .filter(client::Column::Id.eq(client_id))
            .exec(&self.db)
            .await;
        self.client_changed(client_id);
        if result?.rows_affected == 0 {
            return Err(DirectoryError::Invalid(format!("client {client_id:?} does not exist")));
        }
        Ok(token)
    }
}

impl Client {
    /// RFC 7592 §1: `presented` is this client's registration access token. A client an admin
    /// registered has none, so no token manages it.
    pub fn registration_token_matches(&self, presented: &str) -> bool {
        match &self.registration_token_hash {
            Some(hash) => secrets::secure_eq(hash.as_bytes(), secrets::hash(presented).as_bytes()),
            None => false,
        }
    }
}
