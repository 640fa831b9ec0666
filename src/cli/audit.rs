//! `audit`: query the audit log.

use std::path::PathBuf;

use super::{AuditArgs, load_and_connect};

pub(super) async fn run(config_path: Option<PathBuf>, args: AuditArgs) -> anyhow::Result<()> {
    let (_, directory) = load_and_connect(config_path).await?;
    let query = crate::directory::audit::AuditQuery {
        kind: args.kind,
        actor: args.actor,
        subject: args.subject,
        since: args.since,
        until: args.until,
        limit: args.limit,
        offset: 0,
    };
    for e in directory.audit_events(&query).await? {
        let at = chrono::DateTime::from_timestamp(e.at, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
        println!(
            "{at}\t{}\tactor={}\tsubject={}\tclient={}\t{}",
            e.kind,
            e.actor.as_deref().unwrap_or("-"),
            e.subject.as_deref().unwrap_or("-"),
            e.client_id.as_deref().unwrap_or("-"),
            e.detail
        );
    }
    Ok(())
}
