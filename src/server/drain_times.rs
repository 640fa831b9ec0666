//! How long the shutdown drain (`drain`) waits: long enough for the slowest request, a sign-in
//! that waits for its DingTalk calls one after another.

use std::time::Duration;

use crate::config::Config;
use crate::dingtalk::DingTalkClient;
use crate::drain::DrainTimes;

/// For what a sign-in spends outside DingTalk: about a dozen SQL and session-store round trips,
/// each normally a few milliseconds (each bounded by `database.statement_timeout_ms` or
/// `redis.command_timeout_ms`; a store that hits its bound fails the request at the first one).
const STORE_ALLOWANCE: Duration = Duration::from_secs(5);

/// The DingTalk calls a sign-in (`GET /callback/dingtalk` or `POST /callback/dingtalk/in-app`, the
/// slowest requests) waits for one after another, each bounded by `dingtalk.timeout_ms`: the code
/// exchange and the profile (two; inside DingTalk the app token and getuserinfo, two as a whole),
/// the organisation look-up (three: app token, getbyunionid, then user/get with
/// listparentbyuser; bounded as a whole) and the department names (one, shared by all of them).
pub const SIGN_IN_DINGTALK_CALLS: u32 = max(DingTalkClient::LOGIN_CALLS, DingTalkClient::IN_APP_LOGIN_CALLS)
    + DingTalkClient::ORG_MEMBER_CALLS
    + crate::login::roles::DEPARTMENT_NAME_CALLS;

const fn max(a: u32, b: u32) -> u32 {
    if a > b { a } else { b }
}

/// The longest a request can take: a sign-in's DingTalk calls (or a logout's back-channel
/// notifications, sent together and bounded by `logout.backchannel_timeout_ms`, if longer) plus
/// [`STORE_ALLOWANCE`]. With the defaults, 6 × 5 s + 5 s = 35 s.
pub fn longest_request(config: &Config) -> Duration {
    let sign_in = config.dingtalk.time_for_calls(SIGN_IN_DINGTALK_CALLS);
    let logout = Duration::from_millis(config.logout.backchannel_timeout_ms);
    sign_in.max(logout) + STORE_ALLOWANCE
}

/// The drain's times: `server.shutdown_drain_secs`, or by default the longest a request can take.
pub fn drain_times(config: &Config) -> DrainTimes {
    let drain = match config.server.shutdown_drain_secs {
        Some(secs) => Duration::from_secs(secs),
        // Whole seconds, as the option is written and as orchestrators' grace periods are.
        None => Duration::from_secs(longest_request(config).as_secs_f64().ceil() as u64),
    };
    DrainTimes { accept: Duration::from_secs(config.server.shutdown_accept_secs), drain }
}

/// A warning when a configured drain would cut a request that takes its longest time.
pub fn shortfall(config: &Config) -> Option<String> {
    let drain = Duration::from_secs(config.server.shutdown_drain_secs?);
    let longest = longest_request(config);
    (drain < longest).then(|| {
        format!(
            "server.shutdown_drain_secs = {} is shorter than the longest request ({} s: a sign-in waits for up \
             to {SIGN_IN_DINGTALK_CALLS} DingTalk calls of dingtalk.timeout_ms = {} ms); a shutdown may cut \
             sign-ins in progress",
            drain.as_secs(),
            longest.as_secs_f64().ceil(),
            config.dingtalk.timeout_ms,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(timeout_ms: u64, drain: Option<u64>) -> Config {
        let mut config = Config::default();
        config.dingtalk.timeout_ms = timeout_ms;
        config.server.shutdown_drain_secs = drain;
        config
    }

    #[test]
    fn the_default_drain_covers_a_sign_in_that_waits_for_six_dingtalk_timeouts() {
        assert_eq!(SIGN_IN_DINGTALK_CALLS, 6);
        let defaults = drain_times(&Config::default());
        assert_eq!(defaults, DrainTimes { accept: Duration::from_secs(5), drain: Duration::from_secs(35) });
        assert_eq!(drain_times(&config(1500, None)).drain, Duration::from_secs(14), "6 × 1.5 s + 5 s");
        assert!(shortfall(&Config::default()).is_none());
    }

    #[test]
    fn a_configured_drain_shorter_than_the_longest_request_is_warned_about() {
        let warning = shortfall(&config(5000, Some(10))).expect("a warning");
        assert!(warning.contains("server.shutdown_drain_secs = 10") && warning.contains("35"), "{warning}");
        assert!(shortfall(&config(5000, Some(35))).is_none());
        assert_eq!(drain_times(&config(5000, Some(10))).drain, Duration::from_secs(10));
    }

    #[test]
    fn a_slow_back_channel_logout_lengthens_the_default_drain() {
        let mut config = config(1000, None);
        config.logout.backchannel_timeout_ms = 20_000;
        assert_eq!(longest_request(&config), Duration::from_secs(25));
    }

    #[test]
    fn the_documented_default_drain_is_the_computed_one() {
        let example = include_str!("../../deploy/config.example.toml");
        let documented = example
            .lines()
            .find_map(|l| l.strip_prefix("# shutdown_drain_secs = "))
            .expect("deploy/config.example.toml shows the default drain");
        assert_eq!(documented.trim().parse::<u64>().ok(), Some(drain_times(&Config::default()).drain.as_secs()));
    }
}
