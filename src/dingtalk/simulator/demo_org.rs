//! The demo organisations served by `serve --dev` and used by the tests: Demo Corp with its
//! departments, DingTalk's built-in roles, and the users alice, bob, carol, dave (inactive) and
//! mallory (a member of another organisation); and Second Corp, with its own app, where alice
//! works too (under another unionId: each organisation's app is its own developer account,
//! docs/dingtalk-api.md §11) beside frank.

use super::directory::{SimDepartment, SimDirectory, SimRole, SimRoleGroup, SimUser};

impl Default for SimDirectory {
    /// The demo organisation served by `serve --dev`.
    fn default() -> Self {
        let dept = |id, name: &str, parent_id| SimDepartment { id, name: name.to_owned(), parent_id };
        let role = |id, name: &str| SimRole { id, name: name.to_owned() };
        let demo_corp = Some("ding-demo-corp".to_owned());
        let member = |login: &str, n: u32| SimUser {
            login: login.to_owned(),
            union_id: format!("simUnion{n:02}{}", capitalise(login)),
            open_id: format!("simOpen{n:02}{}", capitalise(login)),
            nick: capitalise(login),
            email: None,
            mobile: None,
            state_code: None,
            avatar_url: None,
            corp_id: demo_corp.clone(),
            userid: Some(format!("{login}{n:03}")),
            title: None,
            dept_ids: Vec::new(),
            role_ids: Vec::new(),
            admin: false,
            boss: false,
            leader_in_dept: Vec::new(),
            active: true,
        };
        Self {
            corp_id: "ding-demo-corp".to_owned(),
            app_key: "dingsimappkey".to_owned(),
            app_secret: "dingsimappsecret".to_owned(),
            redirect_uris: Vec::new(),
            departments: vec![
                dept(1, "Demo Corp", None),
                dept(2, "Engineering", Some(1)),
                dept(3, "Sales", Some(1)),
                dept(4, "Platform", Some(2)),
            ],
            // docs/dingtalk-api.md §5.5: the default group holds the built-in roles.
            roles: vec![
                SimRoleGroup {
                    group_id: 1001,
                    name: "默认".to_owned(),
                    roles: vec![
                        role(1101, "主管理员"),
                        role(1102, "子管理员"),
                        role(1103, "负责人"),
                        role(1104, "主管"),
                    ],
                },
                SimRoleGroup {
                    group_id: 1002,
                    name: "职务".to_owned(),
                    roles: vec![role(1201, "工程师"), role(1202, "销售")],
                },
            ],
            users: vec![
                SimUser {
                    email: Some("alice@example.com".to_owned()),
                    mobile: Some("13800000001".to_owned()),
                    state_code: Some("86".to_owned()),
                    title: Some("Engineering Manager".to_owned()),
                    dept_ids: vec![2],
                    role_ids: vec![1101, 1104],
                    admin: true,
                    leader_in_dept: vec![2],
                    ..member("alice", 1)
                },
                SimUser {
                    email: Some("bob@example.com".to_owned()),
                    title: Some("Account Executive".to_owned()),
                    dept_ids: vec![3],
                    role_ids: vec![1202],
                    ..member("bob", 2)
                },
                SimUser {
                    email: Some("carol@example.com".to_owned()),
                    title: Some("Platform Engineer".to_owned()),
                    dept_ids: vec![4],
                    role_ids: vec![1201],
                    ..member("carol", 3)
                },
                SimUser {
                    title: Some("Sales Intern".to_owned()),
                    dept_ids: vec![3],
                    active: false,
                    ..member("dave", 4)
                },
                SimUser {
                    email: Some("mallory@example.org".to_owned()),
                    corp_id: Some("ding-other-corp".to_owned()),
                    userid: None,
                    ..member("mallory", 5)
                },
            ],
        }
    }
}

impl SimDirectory {
    /// The second demo organisation, with its own app.
    pub fn second_demo() -> SimDirectory {
        let dept = |id, name: &str, parent_id| SimDepartment { id, name: name.to_owned(), parent_id };
        let first = SimDirectory::default();
        let corp = "ding-second-corp".to_owned();
        let member = |login: &str, n: u32, dept_ids: Vec<i64>| SimUser {
            login: login.to_owned(),
            union_id: format!("simUnionB{n:02}{}", capitalise(login)),
            open_id: format!("simOpenB{n:02}{}", capitalise(login)),
            nick: capitalise(login),
            email: Some(format!("{login}@second.example.com")),
            mobile: None,
            state_code: None,
            avatar_url: None,
            corp_id: Some(corp.clone()),
            userid: Some(format!("{login}-b{n:03}")),
            title: None,
            dept_ids,
            role_ids: Vec::new(),
            admin: false,
            boss: false,
            leader_in_dept: Vec::new(),
            active: true,
        };
        SimDirectory {
            corp_id: corp.clone(),
            app_key: "dingsimappkey2".to_owned(),
            app_secret: "dingsimappsecret2".to_owned(),
            redirect_uris: Vec::new(),
            // Numbered from 1 like every organisation's: department 2 here is not Demo Corp's.
            departments: vec![dept(1, "Second Corp", None), dept(2, "Research", Some(1))],
            roles: first.roles,
            users: vec![
                SimUser { role_ids: vec![1201], ..member("alice", 1, vec![2]) },
                SimUser { role_ids: vec![1201], ..member("frank", 2, vec![2]) },
            ],
        }
    }

    /// Both demo organisations, Demo Corp (the default) first.
    pub fn demo_organisations() -> Vec<SimDirectory> {
        vec![SimDirectory::default(), SimDirectory::second_demo()]
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
