//! `roles`: roles, grants and mapping rules.

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;

use super::{cli_error, load_and_connect};
use crate::directory::roles::MappingRule;
use crate::manage::{self, Actor, Manage};

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a role.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List roles.
    List,
    /// Show a role.
    Show { name: String },
    /// Change a role's description.
    Update {
        name: String,
        #[arg(long)]
        description: String,
    },
    /// Delete a role with its grants and mapping rules.
    Delete { name: String },
    /// Grant a role to a user.
    Grant {
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Take a direct grant away.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Mapping rules from DingTalk org data to roles.
    #[command(subcommand)]
    Mappings(MappingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Map members of a department, holders of an org role, org admins or department leaders to a role.
    Add {
        #[arg(long)]
        role: String,
        /// Members of this DingTalk department id (with --leader: leaders of it).
        #[arg(long)]
        department: Option<i64>,
        /// With --department: also members of every department below it.
        #[arg(long)]
        include_sub_departments: bool,
        /// Holders of this DingTalk org role id.
        #[arg(long)]
        org_role: Option<i64>,
        /// DingTalk org admins.
        #[arg(long)]
        org_admin: bool,
        /// Department leaders (of --department, or of any department).
        #[arg(long)]
        leader: bool,
        /// The DingTalk organisation (corp id) whose org data the rule matches (default: the first
        /// configured organisation). Department and role ids are per organisation.
        #[arg(long, value_name = "CORP_ID")]
        organisation: Option<String>,
    },
    /// List mapping rules.
    List,
    /// Remove a mapping rule.
    Remove { id: String },
}

pub(super) async fn run(config_path: Option<PathBuf>, cmd: RolesCommand) -> anyhow::Result<()> {
    let (config, directory) = load_and_connect(config_path).await?;
    let m = Manage::standalone(&directory, Actor::cli()).with_organisations_of(&config.dingtalk);
    match cmd {
        RolesCommand::Create { name, description } => {
            manage::roles::create(&m, &name, &description).await.map_err(cli_error)?;
            println!("role {name} created");
        }
        RolesCommand::List => {
            for role in directory.list_roles().await? {
                println!("{}\t{}", role.name, role.description);
            }
        }
        RolesCommand::Show { name } => {
            let role = manage::roles::get(&directory, &name).await.map_err(cli_error)?;
            println!("{}", serde_json::to_string_pretty(&role)?);
        }
        RolesCommand::Update { name, description } => {
            manage::roles::update(&m, &name, &description).await.map_err(cli_error)?;
            println!("role {name} updated");
        }
        RolesCommand::Delete { name } => {
            manage::roles::delete(&m, &name).await.map_err(cli_error)?;
            println!("role {name} deleted");
        }
        RolesCommand::Grant { user, role } => {
            manage::roles::grant(&m, &user, &role).await.map_err(cli_error)?;
            println!("{role} granted to {user} (effective at the next login or recheck)");
        }
        RolesCommand::Revoke { user, role } => {
            manage::roles::revoke_grant(&m, &user, &role).await.map_err(cli_error)?;
            println!("{role} taken from {user}");
        }
        RolesCommand::Mappings(MappingsCommand::Add {
            role,
            department,
            include_sub_departments,
            org_role,
            org_admin,
            leader,
            organisation,
        }) => {
            let rule = match (department, org_role, org_admin, leader) {
                (dept, None, false, true) => MappingRule::DepartmentLeader { dept_id: dept },
                (Some(dept_id), None, false, false) => MappingRule::Department { dept_id, include_sub_departments },
                (None, Some(role_id), false, false) => MappingRule::OrgRole { role_id },
                (None, None, true, false) => MappingRule::OrgAdmin,
                _ => bail!("give exactly one of --department, --org-role, --org-admin, --leader [--department]"),
            };
            let mapping =
                manage::roles::create_mapping(&m, organisation.as_deref(), &role, rule).await.map_err(cli_error)?;
            println!("mapping {} created", mapping.id);
        }
        RolesCommand::Mappings(MappingsCommand::List) => {
            for m in directory.list_mappings().await? {
                let org = if m.org_id.is_empty() { "-" } else { m.org_id.as_str() };
                println!("{}\t{}\t{}\t{}", m.id, m.role, org, serde_json::to_string(&m.rule)?);
            }
        }
        RolesCommand::Mappings(MappingsCommand::Remove { id }) => {
            manage::roles::delete_mapping(&m, &id).await.map_err(cli_error)?;
            println!("mapping {id} removed");
        }
    }
    Ok(())
}
