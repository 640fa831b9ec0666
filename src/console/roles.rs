//! Console: roles and the mapping rules that give them from DingTalk org data. Create, describe,
//! delete (asks first); add and remove rules; and before adding one, a preview of who it would
//! give the role to, judged against the org data of every user seen so far (rules are matched at
//! each sign-in and recheck, so the preview is what the next sign-ins will do).

use std::sync::Arc;

use minijinja::context;
use minijinja::value::Value;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};

use super::invalid;
use super::users::describe_rule;
use super::{confirm_page, done, failed, notice, operator_or_refusal, page, paths, writer};
use crate::app::App;
use crate::directory::User;
use crate::directory::roles::MappingRule;
use crate::login::roles::rule_matches;
use crate::manage;
use crate::oidc::params::Params;

pub(super) const NOTICES: &[(&str, &str)] = &[
    ("created", "The role was created."),
    ("updated", "Saved."),
    ("deleted", "The role was deleted, with its grants and mapping rules."),
    ("mapping_added", "The mapping rule was added: it applies from each user's next sign-in or recheck."),
    ("mapping_removed", "The mapping rule was removed."),
];

/// How many users the preview and the holders list show at most.
const SHOWN_USERS: usize = 200;
/// The users a preview is judged against, at most (the directory's page size).
const PREVIEW_USERS: u64 = 10_000;

/// `GET /admin/roles`.
#[handler]
pub async fn list(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let (roles, mappings) = match (app.directory.list_roles().await, app.directory.list_mappings().await) {
        (Ok(r), Ok(m)) => (r, m),
        (Err(e), _) | (_, Err(e)) => return failed(e.into()),
    };
    let roles: Vec<Value> = roles
        .iter()
        .map(|r| {
            context! {
                name => r.name.as_str(),
                url_name => super::segment(&r.name),
                description => r.description.as_str(),
                rules => mappings.iter().filter(|m| m.role == r.name).count(),
            }
        })
        .collect();
    let values = context! { roles, action_url => app.endpoint_url(paths::ROLES), notice => notice(req, NOTICES) };
    page(&app, &operator, "console_roles.html", "Roles", values)
}

/// `POST /admin/roles`: creates a role.
#[handler]
pub async fn create(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let (_, m, form) = match writer(&app, req, body).await {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let name = form.get("name").unwrap_or_default().trim();
    match manage::roles::create(&m, name, form.get("description").unwrap_or_default().trim()).await {
        Ok(role) => done(&app, &role_path(&role.name), "created"),
        Err(e) => failed(e),
    }
}

/// `GET /admin/roles/{name}` (with `preview=1` and a rule: who it would match).
#[handler]
pub async fn show(req: &Request, name: Path<String>, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let query = Params::parse(req.uri().query().unwrap_or_default());
    let role = match manage::roles::get(&app.directory, &name).await {
        Ok(role) => role,
        Err(e) => return failed(e),
    };
    let mappings = app.directory.list_mappings().await;
    let users = app.directory.list_users(None, 0, PREVIEW_USERS).await;
    let (mappings, (users, _)) = match (mappings, users) {
        (Ok(m), Ok(u)) => (m, u),
        (Err(e), _) | (_, Err(e)) => return failed(e.into()),
    };
    // With several organisations, each rule says whose org data it matches.
    let orgs = app.organisations.all();
    let org_name = |key: &str| {
        let key = if key.is_empty() { app.organisations.default_org().key.as_str() } else { key };
        orgs.iter().find(|o| o.key == key).map_or_else(|| key.to_owned(), |o| o.name.clone())
    };
    let rules: Vec<Value> = mappings
        .iter()
        .filter(|m| m.role == role.name)
        .map(|m| {
            let organisation = (orgs.len() > 1).then(|| org_name(&m.org_id));
            context! { id => m.id.as_str(), text => describe_rule(&m.rule), organisation }
        })
        .collect();
    let draft_org = query
        .get("organisation")
        .filter(|o| app.organisations.get(o).is_some())
        .unwrap_or(app.organisations.default_org().key.as_str());
    let organisations: Vec<Value> = orgs
        .iter()
        .map(|o| context! { key => o.key.as_str(), name => o.name.as_str(), selected => o.key == draft_org })
        .collect();
    let holders: Vec<Value> =
        users.iter().filter(|u| u.effective_roles.contains(&role.name)).take(SHOWN_USERS).map(user_row).collect();
    let preview = if query.has("preview") {
        match rule_from(&query) {
            Ok(rule) => {
                // Department and role ids are per organisation: the rule matches its own users only.
                let matched: Vec<&User> =
                    users.iter().filter(|u| u.org_id == draft_org && rule_matches(&rule, u)).collect();
                Some(context! {
                    rule => describe_rule(&rule),
                    count => matched.len(),
                    users => matched.iter().take(SHOWN_USERS).map(|u| user_row(u)).collect::<Vec<_>>(),
                })
            }
            Err(problem) => Some(context! { problem }),
        }
    } else {
        None
    };
    let values = context! {
        role => context! { name => role.name.as_str(), description => role.description.as_str() },
        rules,
        holders,
        preview,
        draft => context! {
            kind => query.get("kind").unwrap_or("department"),
            id => query.get("id").unwrap_or_default(),
            organisation => draft_org,
        },
        organisations => if orgs.len() > 1 { organisations } else { Vec::new() },
        seen => users.len(),
        action_url => app.endpoint_url(&role_path(&role.name)),
        notice => notice(req, NOTICES),
    };
    page(&app, &operator, "console_role.html", &role.name, values)
}

/// `POST /admin/roles/{name}`: `action` = update (description), add_mapping (kind, id),
/// remove_mapping (mapping) or delete (asks first).
#[handler]
pub async fn act(req: &Request, name: Path<String>, body: Body, app: Data<&Arc<App>>) -> Response {
    let (operator, m, form) = match writer(&app, req, body).await {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let path = role_path(&name);
    match form.get("action") {
        Some("update") => {
            let description = form.get("description").unwrap_or_default().trim();
            match manage::roles::update(&m, &name, description).await {
                Ok(_) => done(&app, &path, "updated"),
                Err(e) => failed(e),
            }
        }
        Some("add_mapping") => match rule_from(&form) {
            Ok(rule) => match manage::roles::create_mapping(&m, form.get("organisation"), &name, rule).await {
                Ok(_) => done(&app, &path, "mapping_added"),
                Err(e) => failed(e),
            },
            Err(problem) => failed(invalid(problem)),
        },
        Some("remove_mapping") => {
            let id = form.get("mapping").unwrap_or_default();
            // The rule must be this role's: the page only offers those.
            match manage::roles::get_mapping(&app.directory, id).await {
                Ok(mapping) if mapping.role == *name => match manage::roles::delete_mapping(&m, id).await {
                    Ok(()) => done(&app, &path, "mapping_removed"),
                    Err(e) => failed(e),
                },
                Ok(_) => failed(invalid("mapping: not a rule of this role")),
                Err(e) => failed(e),
            }
        }
        Some("delete") if form.get("confirm") == Some("yes") => match manage::roles::delete(&m, &name).await {
            Ok(()) => done(&app, paths::ROLES, "deleted"),
            Err(e) => failed(e),
        },
        Some("delete") => {
            let question = format!(
                "Delete the role {}? Its direct grants and mapping rules go with it, and its holders lose it at their \
                 next sign-in.",
                name.as_str()
            );
            let url = app.endpoint_url(&path);
            confirm_page(&app, &operator, &url, &question, &[("action", "delete"), ("confirm", "yes")])
        }
        _ => failed(invalid("action: no such action")),
    }
}

/// A mapping rule from a form or query: `kind` and, where the kind needs one, `id` (a DingTalk
/// department or role id).
fn rule_from(form: &Params) -> Result<MappingRule, &'static str> {
    let id = || -> Result<i64, &'static str> {
        form.get("id")
            .map(str::trim)
            .and_then(|v| v.parse().ok())
            .ok_or("id: a DingTalk department or role id (a number)")
    };
    match form.get("kind") {
        Some("department") => Ok(MappingRule::Department { dept_id: id()?, include_sub_departments: false }),
        Some("department_tree") => Ok(MappingRule::Department { dept_id: id()?, include_sub_departments: true }),
        Some("org_role") => Ok(MappingRule::OrgRole { role_id: id()? }),
        Some("org_admin") => Ok(MappingRule::OrgAdmin),
        Some("leader") if form.get("id").is_none_or(|v| v.trim().is_empty()) => {
            Ok(MappingRule::DepartmentLeader { dept_id: None })
        }
        Some("leader") => Ok(MappingRule::DepartmentLeader { dept_id: Some(id()?) }),
        _ => Err("kind: department, department_tree, org_role, org_admin or leader"),
    }
}

fn user_row(u: &User) -> Value {
    context! {
        id => u.id.as_str(),
        name => u.name.as_deref().unwrap_or("—"),
        email => u.email.as_deref().unwrap_or_default(),
    }
}

fn role_path(name: &str) -> String {
    format!("{}/{}", paths::ROLES, super::segment(name))
}
