//! Relying parties: register (the secret is returned once), change, remove, rotate the secret.

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::DirectoryError;
use crate::directory::audit::AuditKind;
use crate::directory::{Client, ClientUpdate, Directory, NewClient};

/// One client.
pub async fn get(directory: &Directory, id: &str) -> Result<Client, ManageError> {
    directory.client(id).await?.ok_or_else(|| not_found(Missing::Client(id.into())))
}

/// Registers a client; a confidential client's secret comes back here only.
pub async fn create(m: &Manage<'_>, new: NewClient) -> Result<(Client, Option<String>), ManageError> {
    m.check_organisations(&new.organisations)?;
    if let Some(uri) = &new.resource_uri {
        check_resource_uri(m, &new.id, uri).await?;
    }
    let (client, secret) = m.directory.create_client(new).await?;
    m.audit(AuditKind::ClientCreated, Some(&client.id), json!({})).await;
    Ok((client, secret))
}

pub async fn update(m: &Manage<'_>, id: &str, update: ClientUpdate) -> Result<Client, ManageError> {
    m.check_organisations(update.organisations.as_deref().unwrap_or_default())?;
    if let Some(Some(uri)) = &update.resource_uri {
        check_resource_uri(m, id, uri).await?;
    }
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

/// A resource indicator names one API (RFC 8707 §2), so one client; and never one of the provider's
/// own audiences (its userinfo and admin API are under the issuer), or a token minted for the API
/// would be good there too.
async fn check_resource_uri(m: &Manage<'_>, id: &str, uri: &str) -> Result<(), ManageError> {
    let invalid = |problem: String| ManageError::Directory(DirectoryError::Invalid(problem));
    if let Some(issuer) = &m.issuer {
        let issuer = issuer.trim_end_matches('/');
        if uri == issuer || uri.starts_with(&format!("{issuer}/")) {
            return Err(invalid("resource_uri: the issuer's URIs are the provider's own".into()));
        }
    }
    let clients = m.directory.list_clients().await?;
    if let Some(other) = clients.iter().find(|c| c.id != id && c.resource_uri.as_deref() == Some(uri)) {
        return Err(invalid(format!("resource_uri: client {:?} already stands for it", other.id)));
    }
    Ok(())
}
