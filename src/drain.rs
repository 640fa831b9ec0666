//! Stopping without dropping requests. On SIGTERM or Ctrl-C an instance:
//!
//! 1. stops being ready (`/readyz` answers 503 `draining`) and answers every request from then on
//!    with `Connection: close` (RFC 9112 §9.6), so a keep-alive connection of a reverse proxy's
//!    pool carries the request already on its way and is then closed by us, never reset; it keeps
//!    accepting new connections for `server.shutdown_accept_secs`, as a load balancer that has not
//!    noticed yet still sends some;
//! 2. then closes its listening socket: a new connection is refused, which a load balancer safely
//!    sends to another instance (nothing was sent here), and the requests already received have
//!    `server.shutdown_drain_secs` to finish;
//! 3. exits as soon as nothing is in flight and no request arrived or finished for [`QUIET`] (in
//!    either step, so an idle instance stops at once), or when the drain time runs out: the
//!    requests still running are then cut, logged, and the exit status is non-zero.
//!
//! An idle keep-alive connection that carried nothing during the drain is closed at the end; a
//! client that sends on it at that very moment sees the close, as with any server's keep-alive
//! timeout (RFC 9112 §9.3.1 lets it retry an idempotent request). HTTP/2 connections get GOAWAY
//! at the end instead of `Connection: close`, which HTTP/2 forbids (RFC 9113 §8.2.2).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::config::Config;
use crate::dingtalk::DingTalkClient;

/// Idle this long (nothing in flight, nothing arrived or finished) and the drain is over.
pub const QUIET: Duration = Duration::from_secs(1);

/// How often the drain looks whether it is over.
const POLL: Duration = Duration::from_millis(50);

/// For what a sign-in spends outside DingTalk: about a dozen SQL and session-store round trips,
/// each normally a few milliseconds (each bounded by `database.statement_timeout_ms` or
/// `redis.command_timeout_ms`; a store that hits its bound fails the request at the first one).
const STORE_ALLOWANCE: Duration = Duration::from_secs(5);

/// The DingTalk calls a sign-in (`GET /callback/dingtalk`, the slowest request) waits for one
/// after another, each bounded by `dingtalk.timeout_ms`: the code exchange and the profile (two),
/// the organisation look-up (three: app token, getbyunionid, then user/get with
/// listparentbyuser; bounded as a whole) and the department names (one, shared by all of them).
pub const SIGN_IN_DINGTALK_CALLS: u32 =
    DingTalkClient::LOGIN_CALLS + DingTalkClient::ORG_MEMBER_CALLS + crate::login::roles::DEPARTMENT_NAME_CALLS;

/// The longest a request can take: a sign-in's DingTalk calls (or a logout's back-channel
/// notifications, sent together and bounded by `logout.backchannel_timeout_ms`, if longer) plus
/// [`STORE_ALLOWANCE`]. With the defaults, 6 × 5 s + 5 s = 35 s.
pub fn longest_request(config: &Config) -> Duration {
    let sign_in = config.dingtalk.time_for_calls(SIGN_IN_DINGTALK_CALLS);
    let logout = Duration::from_millis(config.logout.backchannel_timeout_ms);
    sign_in.max(logout) + STORE_ALLOWANCE
}

/// The times of one drain, from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainTimes {
    /// Step 1: new connections are still accepted.
    pub accept: Duration,
    /// Step 2: requests received may still finish.
    pub drain: Duration,
}

impl DrainTimes {
    pub fn from_config(config: &Config) -> DrainTimes {
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
}

/// Whether the instance is draining, and the requests in flight. Every request holds an
/// [`InFlight`] from the edge layer (`web::edge`) until its response is ready.
pub struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` when a request last arrived or finished during the drain.
    last_activity_ms: AtomicU64,
    epoch: Instant,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Drain {
    pub fn new() -> Drain {
        Drain {
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_activity_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts a request until the returned guard is dropped.
    pub fn request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self)
    }

    /// Step 1 begins: not ready any more, `Connection: close` on every response.
    pub fn begin(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.last_activity_ms.fetch_max(self.now_ms(), Ordering::AcqRel);
    }

    /// Steps 1 and 2: returns when the drain is over (idle for [`QUIET`]) or at its deadline,
    /// which it returns. `close_listener` is called when step 1 ends without the drain being over.
    pub async fn wind_down(&self, times: &DrainTimes, close_listener: impl FnOnce()) -> Instant {
        self.begin();
        let accept_until = Instant::now() + times.accept;
        let deadline = accept_until + times.drain;
        if tokio::time::timeout_at(accept_until, self.idle_for(QUIET)).await.is_err() {
            close_listener();
            let _ = tokio::time::timeout_at(deadline, self.idle_for(QUIET)).await;
        }
        deadline
    }

    /// Returns once nothing has been in flight for `quiet`.
    async fn idle_for(&self, quiet: Duration) {
        let mut poll = tokio::time::interval(POLL);
        loop {
            poll.tick().await;
            let last = Duration::from_millis(self.last_activity_ms.load(Ordering::Acquire));
            if self.in_flight() == 0 && self.epoch.elapsed().saturating_sub(last) >= quiet {
                return;
            }
        }
    }

    fn touch(&self) {
        if self.is_draining() {
            self.last_activity_ms.fetch_max(self.now_ms(), Ordering::AcqRel);
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// One request in flight (see [`Drain::request`]).
pub struct InFlight<'a>(&'a Drain);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// Step 2's switch: closes the listening socket of a [`DrainingAcceptor`].
pub struct ListenerSwitch(tokio::sync::watch::Sender<bool>);

impl ListenerSwitch {
    pub fn close(&self) {
        let _ = self.0.send(true);
    }
}

/// A TCP acceptor whose listening socket can be closed while the server keeps serving the
/// connections it has (poem closes its acceptor only together with every idle connection).
pub struct DrainingAcceptor {
    listener: Option<TcpListener>,
    local_addr: LocalAddr,
    closed: tokio::sync::watch::Receiver<bool>,
    /// Connections the kernel had completed when the socket was closed: served, not reset.
    backlog: VecDeque<(TcpStream, SocketAddr)>,
}

impl DrainingAcceptor {
    pub fn new(listener: TcpListener) -> std::io::Result<(DrainingAcceptor, ListenerSwitch)> {
        let local_addr = LocalAddr(listener.local_addr()?.into());
        let (switch, closed) = tokio::sync::watch::channel(false);
        let acceptor = DrainingAcceptor { listener: Some(listener), local_addr, closed, backlog: VecDeque::new() };
        Ok((acceptor, ListenerSwitch(switch)))
    }

    /// Takes what is waiting in the accept queue, then closes the socket: connecting is refused
    /// from now on.
    fn close_listener(&mut self) {
        let Some(listener) = self.listener.take() else { return };
        let Ok(listener) = listener.into_std() else { return };
        while let Ok((stream, addr)) = listener.accept() {
            // Accepted sockets do not inherit the listener's non-blocking mode; tokio needs it.
            if stream.set_nonblocking(true).is_ok()
                && let Ok(stream) = TcpStream::from_std(stream)
            {
                self.backlog.push_back((stream, addr));
            }
        }
        tracing::info!(waiting = self.backlog.len(), "shutdown: no longer accepting connections");
    }
}

impl Acceptor for DrainingAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![self.local_addr.clone()]
    }

    async fn accept(&mut self) -> std::io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            if let Some((stream, addr)) = self.backlog.pop_front() {
                return Ok((stream, self.local_addr.clone(), RemoteAddr(addr.into()), Scheme::HTTP));
            }
            if *self.closed.borrow() {
                self.close_listener();
            }
            let Some(listener) = &self.listener else {
                if self.backlog.is_empty() {
                    // poem's accept loop retries at once on an error: stay pending instead.
                    return std::future::pending().await;
                }
                continue;
            };
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, addr) = accepted?;
                    return Ok((stream, self.local_addr.clone(), RemoteAddr(addr.into()), Scheme::HTTP));
                }
                changed = self.closed.changed() => {
                    if changed.is_err() {
                        // The switch is gone with the server that held it: nothing to accept for.
                        self.close_listener();
                    }
                }
            }
        }
    }
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
        let defaults = DrainTimes::from_config(&Config::default());
        assert_eq!(defaults, DrainTimes { accept: Duration::from_secs(5), drain: Duration::from_secs(35) });
        assert_eq!(DrainTimes::from_config(&config(1500, None)).drain, Duration::from_secs(14), "6 × 1.5 s + 5 s");
        assert!(DrainTimes::shortfall(&Config::default()).is_none());
    }

    #[test]
    fn a_configured_drain_shorter_than_the_longest_request_is_warned_about() {
        let warning = DrainTimes::shortfall(&config(5000, Some(10))).expect("a warning");
        assert!(warning.contains("server.shutdown_drain_secs = 10") && warning.contains("35"), "{warning}");
        assert!(DrainTimes::shortfall(&config(5000, Some(35))).is_none());
        assert_eq!(DrainTimes::from_config(&config(5000, Some(10))).drain, Duration::from_secs(10));
    }

    #[test]
    fn a_slow_back_channel_logout_lengthens_the_default_drain() {
        let mut config = config(1000, None);
        config.logout.backchannel_timeout_ms = 20_000;
        assert_eq!(longest_request(&config), Duration::from_secs(25));
    }

    #[test]
    fn the_documented_default_drain_is_the_computed_one() {
        let example = include_str!("../deploy/config.example.toml");
        let documented = example
            .lines()
            .find_map(|l| l.strip_prefix("# shutdown_drain_secs = "))
            .expect("deploy/config.example.toml shows the default drain");
        assert_eq!(
            documented.trim().parse::<u64>().ok(),
            Some(DrainTimes::from_config(&Config::default()).drain.as_secs())
        );
    }

    #[tokio::test]
    async fn an_idle_drain_ends_after_the_quiet_period_without_waiting_for_its_deadline() {
        let drain = Drain::new();
        let times = DrainTimes { accept: Duration::from_secs(30), drain: Duration::from_secs(30) };
        let started = Instant::now();
        let mut closed = false;
        drain.wind_down(&times, || closed = true).await;
        assert!(drain.is_draining());
        assert!(!closed, "an idle drain ends while still accepting");
        let took = started.elapsed();
        assert!(took >= QUIET && took < Duration::from_secs(10), "{took:?}");
    }

    #[tokio::test]
    async fn a_request_in_flight_keeps_the_drain_open_until_its_deadline() {
        let drain = Drain::new();
        let times = DrainTimes { accept: Duration::from_millis(200), drain: Duration::from_millis(300) };
        let guard = drain.request();
        let mut closed = false;
        let deadline = drain.wind_down(&times, || closed = true).await;
        assert!(closed, "the listener closes when accepting time is over");
        assert!(Instant::now() >= deadline);
        assert_eq!(drain.in_flight(), 1, "still in flight: it is cut");
        drop(guard);
        assert_eq!(drain.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_request_finishing_during_the_drain_ends_it_a_quiet_period_later() {
        let drain = std::sync::Arc::new(Drain::new());
        let times = DrainTimes { accept: Duration::from_millis(100), drain: Duration::from_secs(30) };
        let finishing = drain.clone();
        let started = Instant::now();
        let request = tokio::spawn(async move {
            let _guard = finishing.request();
            tokio::time::sleep(Duration::from_millis(500)).await;
        });
        let deadline = drain.wind_down(&times, || {}).await;
        request.await.unwrap();
        assert_eq!(drain.in_flight(), 0);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(500) + QUIET, "{took:?}");
        assert!(Instant::now() < deadline, "ended before the deadline");
    }

    #[tokio::test]
    async fn a_closed_acceptor_refuses_connections_but_serves_the_ones_already_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mut acceptor, switch) = DrainingAcceptor::new(listener).unwrap();
        let first = TcpStream::connect(addr).await.unwrap();
        let (served, ..) = acceptor.accept().await.unwrap();
        assert_eq!(served.peer_addr().unwrap(), first.local_addr().unwrap());
        // Completed by the kernel, not yet accepted, when the switch is thrown.
        let waiting = TcpStream::connect(addr).await.unwrap();
        switch.close();
        let (served, ..) = acceptor.accept().await.unwrap();
        assert_eq!(served.peer_addr().unwrap(), waiting.local_addr().unwrap());
        let refused = TcpStream::connect(addr).await;
        assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
        let nothing = tokio::time::timeout(Duration::from_millis(100), acceptor.accept()).await;
        assert!(nothing.is_err(), "a closed acceptor waits, never errs in a loop");
    }
}
