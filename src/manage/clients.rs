//! Relying parties: register (the secret is returned once), change, remove, rotate the secret.

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::audit::AuditKind;
use crate::directory::{Client, ClientUpdate, Directory, NewClient};

/// One client.
pub async fn get(directory: &Directory, id: &str) -> Result<Client, ManageError> {
    directory.client(id).await?.ok_or_else(|| not_found(Missing::Client(id.into())))
}

/// Registers a client; a confidential client's secret comes back here only.
pub async fn create(m: &Manage<'_>, new: NewClient) -> Result<(Client, Option<String>), ManageError> {
    m.check_organisations(&new.organisations)?;
    let (client, secret) = m.directory.create_client(new).await?;
    m.audit(AuditKind::ClientCreated, Some(&client.id), json!({})).await;
    Ok((client, secret))
}

pub async fn update(m: &Manage<'_>, id: &str, update: ClientUpdate) -> Result<Client, ManageError> {
    m.check_organisations(update.organisations.as_deref().unwrap_or_default())?;
    let client = m.directory.update_client(id, update).await?.ok_or_else(|| not_found(Missing::Client(id.into())))?;
    m.audit(AuditKind::ClientUpdated, Some(&client.id), json!({})).await;
    Ok(client)
}

pub async fn remove(m: &Manage<'_>, id: &str) -> Result<(), ManageError> {
    if !m.directory.remove_client(id).await? {
        return Err(not_found(Missing::Client(id.into())));
    }
    m.audit(AuditKind::ClientDeleted, Some(id), json!({})).await;
    Ok(())
}

/// A new secret for a confidential client, returned here only; the old one stops working now.
pub async fn rotate_secret(m: &Manage<'_>, id: &str) -> Result<String, ManageError> {
    let secret = m.directory.rotate_client_secret(id).await?.ok_or_else(|| not_found(Missing::Client(id.into())))?;
    m.audit(AuditKind::ClientSecretRotated, Some(id), json!({})).await;
    Ok(secret)
}
