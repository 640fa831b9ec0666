//! The Lua scripts of the Redis store (one `.lua` file each, beside this one, with its KEYS, ARGV
//! and replies), loaded once at connect and called by SHA. A script that consumes something on the
//! token path gets `deadline.lua` prepended: it does nothing once its caller has given up.

use fred::prelude::*;
use fred::types::scripts::Script;

const DEADLINE: &str = include_str!("deadline.lua");

pub(super) struct Scripts {
    pub take: Script,
    pub redeem: Script,
    pub complete: Script,
    pub release: Script,
    pub session_put: Script,
    pub session_use: Script,
    pub session_take: Script,
    pub rotate: Script,
    pub revoke: Script,
    pub update_family: Script,
    pub try_lock: Script,
    pub unlock: Script,
    pub index_add: Script,
    pub queue_put: Script,
    pub queue_claim: Script,
    pub device_poll: Script,
}

fn with_deadline(script: &str) -> Script {
    Script::from_lua(format!("{DEADLINE}{script}"))
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            take: with_deadline(include_str!("take.lua")),
            redeem: with_deadline(include_str!("redeem.lua")),
            complete: with_deadline(include_str!("complete.lua")),
            release: Script::from_lua(include_str!("release.lua")),
            session_put: Script::from_lua(include_str!("session_put.lua")),
            session_use: Script::from_lua(include_str!("session_use.lua")),
            session_take: Script::from_lua(include_str!("session_take.lua")),
            rotate: with_deadline(include_str!("rotate.lua")),
            revoke: Script::from_lua(include_str!("revoke.lua")),
            update_family: Script::from_lua(include_str!("update_family.lua")),
            try_lock: Script::from_lua(include_str!("try_lock.lua")),
            unlock: Script::from_lua(include_str!("unlock.lua")),
            index_add: Script::from_lua(include_str!("index_add.lua")),
            queue_put: Script::from_lua(include_str!("queue_put.lua")),
            queue_claim: Script::from_lua(include_str!("queue_claim.lua")),
            device_poll: Script::from_lua(include_str!("device_poll.lua")),
        }
    }

    /// Loads the scripts of the hot paths ahead of their first call (the others load on first use:
    /// `evalsha_with_reload`).
    pub async fn load(&self, client: &Client) -> Result<(), Error> {
        for script in [
            &self.take,
            &self.redeem,
            &self.complete,
            &self.rotate,
            &self.session_use,
            &self.revoke,
            &self.update_family,
            &self.try_lock,
            &self.unlock,
            &self.index_add,
        ] {
            script.load(client).await?;
        }
        Ok(())
    }
}
