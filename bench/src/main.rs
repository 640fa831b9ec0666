//! `bench`: measures the provider's hot endpoints under load, side by side with the machine's own
//! limits (RSA signing per core, a minimal poem handler), and writes a Markdown table.
//! How to run it and how to read it: docs/benchmarks.md.

mod flows;
mod limits;
mod load;
mod provider;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use flows::{Browser, Clients, Target};
use load::{Conn, Measured};
use provider::{Backend, Provider, Services};

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Load benchmark of dingtalk-oidc against the machine's own limits")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Internal: the minimal poem handler the metadata endpoints are compared with.
    MinimalServer {
        #[arg(long)]
        listen: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Embedded,
    Postgres,
    Both,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Which provider set-ups to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendChoice,
    /// Measured seconds per endpoint (after the warm-up).
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Unmeasured seconds before each measurement.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Rounds per endpoint judged against a limit (metadata, refresh, userinfo, introspection), each
    /// beside its own limit measurement; the round with the median ratio is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Load-generator threads (the provider uses one worker per core).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// The release provider binary.
    #[arg(long, default_value = "target/release/dingtalk-oidc")]
    binary: PathBuf,
    /// PostgreSQL admin URL; a scratch database is created and dropped.
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    #[arg(long, env = "TEST_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Only the endpoints whose name contains one of these (comma-separated), e.g. `refresh,jwks`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "target/bench/report.md")]
    out: PathBuf,
}

/// Target 1's latency bound for discovery and JWKS at 64 connections.
const P99_TARGET_MS: f64 = 2.0;
/// The share of an endpoint's peak rate offered in the open-loop latency runs.
const OPEN_LOOP_SHARE: f64 = 0.5;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::MinimalServer { listen }) = cli.command {
        return limits::serve_minimal(&listen);
    }
    let args = cli.run;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads.max(1)).enable_all().build()?;
    runtime.block_on(run(args))
}

struct Row {
    backend: &'static str,
    name: &'static str,
    measured: Measured,
    peak_rss_mib: f64,
    /// (limit name, ratio, target)
    ratio: Option<(String, f64, Option<f64>)>,
    /// The p99 latency this row is judged against, in ms.
    p99_target_ms: Option<f64>,
}

/// The limits, measured at the start for the summary table and again right before each endpoint
/// they judge: this machine's speed drifts by tens of percent over minutes, so a ratio is only
/// meaningful between measurements taken side by side.
struct Limits {
    cores: usize,
    signs_per_core: f64,
    verifies_per_core: f64,
    minimal: Measured,
    minimal_server: MinimalServer,
    signer: Arc<limits::Signer>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
}

impl Limits {
    fn signing(&self, signatures: f64) -> f64 {
        self.cores as f64 * self.signs_per_core / signatures
    }

    /// The signing limit now: `cores × signs_per_core / signatures`.
    async fn signing_now(&self, signatures: f64) -> anyhow::Result<f64> {
        let signer = self.signer.clone();
        let per_core = tokio::task::spawn_blocking(move || signer.signs_per_second(Duration::from_secs(2))).await?;
        Ok(self.cores as f64 * per_core / signatures)
    }

    /// The minimal handler now, answering `body_bytes` constant bytes.
    /// Runs `workers` in `rounds` rounds, each between two signing measurements (their mean is the
    /// round's limit); returns the round with the median ratio and the workers.
    async fn against_signing<W: load::Worker>(
        &self,
        mut workers: Vec<W>,
        rounds: usize,
        signatures: f64,
    ) -> anyhow::Result<(Measured, f64, Vec<W>)> {
        let mut results = Vec::new();
        for _ in 0..rounds.max(1) {
            let before = self.signing_now(signatures).await?;
            let (m, back) = load::run_keep(workers, self.warmup, self.duration).await?;
            workers = back;
            let after = self.signing_now(signatures).await?;
            let limit = (before + after) / 2.0;
            results.push((m.per_second() / limit, m, limit));
        }
        results.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (_, m, limit) = results.swap_remove(results.len() / 2);
        Ok((m, limit, workers))
    }

    async fn minimal_now(&self, body_bytes: usize) -> anyhow::Result<Measured> {
        let path = format!("/size/{body_bytes}");
        self.minimal_server.measure(&path, self.connections, self.warmup, self.duration, None).await
    }
}

/// The minimal poem handler in its own process, kept for the whole run.
struct MinimalServer {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl MinimalServer {
    async fn start() -> anyhow::Result<MinimalServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg("minimal-server")
            .arg("--listen")
            .arg(addr.to_string())
            .stdout(Stdio::null())
            .spawn()?;
        let server = MinimalServer { child, addr };
        for _ in 0..100 {
            if Conn::new(addr).send(load::get("/").body(Default::default())?).await.is_ok() {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the minimal server did not start")
    }

    /// `connections` fetching `path`: closed loop, or open loop at `rate` requests/s.
    async fn measure(
        &self,
        path: &str,
        connections: usize,
        warmup: Duration,
        duration: Duration,
        rate: Option<f64>,
    ) -> anyhow::Result<Measured> {
        let workers = flows::Fetch::many(self.addr, path, None, connections);
        match rate {
            None => load::run(workers, warmup, duration).await,
            Some(rate) => load::run_paced(workers, warmup, duration, rate).await,
        }
    }
}

impl Drop for MinimalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    // The provider runs in a scratch directory: resolve the path first.
    args.binary = args
        .binary
        .canonicalize()
        .with_context(|| format!("{} not found: build it first (scripts/bench.sh does)", args.binary.display()))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let warmup = Duration::from_secs(args.warmup);
    let duration = Duration::from_secs(args.duration);

    eprintln!("limit: RSA-2048 signing on one thread ...");
    let crypto = tokio::task::spawn_blocking(|| limits::crypto(Duration::from_secs(3))).await??;
    eprintln!("  {:.0} signatures/s, {:.0} verifications/s per core", crypto.signs_per_core, crypto.verifies_per_core);
    eprintln!("limit: minimal poem handler ...");
    let minimal_server = MinimalServer::start().await?;
    let minimal = minimal_server.measure("/", args.connections, warmup, duration, None).await?;
    eprintln!("  {:.0} req/s, p50 {} µs, p99 {} µs", minimal.per_second(), minimal.p50_us, minimal.p99_us);
    let limits = Limits {
        cores,
        signs_per_core: crypto.signs_per_core,
        verifies_per_core: crypto.verifies_per_core,
        minimal,
        minimal_server,
        signer: Arc::new(limits::Signer::new()?),
        connections: args.connections,
        warmup,
        duration,
    };

    let services = Services { postgres: args.postgres.clone(), redis: args.redis.clone() };
    let backends: &[Backend] = match args.backend {
        BackendChoice::Embedded => &[Backend::Embedded],
        BackendChoice::Postgres => &[Backend::PostgresRedis],
        BackendChoice::Both => &[Backend::PostgresRedis, Backend::Embedded],
    };
    let mut rows = Vec::new();
    let mut memory = Vec::new();
    for &backend in backends {
        eprintln!("provider: {} ...", backend.label());
        let provider = Provider::start(&args.binary, backend, &services).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = provider.rss_mib()?;
        eprintln!("  idle RSS after start: {idle:.1} MiB");
        let result = bench_provider(&args, &provider, backend, &limits, warmup, duration, &mut rows).await;
        let peak = provider.peak_rss_mib()?;
        memory.push((backend.label(), idle, peak));
        provider.stop().await?;
        result?;
    }
    let report = render(&args, &limits, &rows, &memory);
    println!("{report}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &report).with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("report written to {}", args.out.display());
    Ok(())
}

fn wanted(args: &RunArgs, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| name.contains(o.as_str()))
}

#[allow(clippy::too_many_arguments)]
async fn bench_provider(
    args: &RunArgs,
    provider: &Provider,
    backend: Backend,
    limits: &Limits,
    warmup: Duration,
    duration: Duration,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let target = Target::of(provider);
    let clients = flows::register_clients(&target).await?;
    let n = args.connections;
    let label = backend.label();
    let mut record = |name: &'static str,
                      measured: Measured,
                      ratio: Option<(String, f64, Option<f64>)>,
                      p99_target_ms: Option<f64>| {
        let peak = provider.peak_rss_mib().unwrap_or(f64::NAN);
        eprintln!(
            "  {name:<34} {:>9.0} req/s  p50 {:>6} µs  p99 {:>7} µs  errors {}  peak RSS {peak:.1} MiB{}",
            measured.per_second(),
            measured.p50_us,
            measured.p99_us,
            measured.errors,
            ratio
                .as_ref()
                .map(|(l, r, _)| if r.is_nan() { format!("  {l}") } else { format!("  {r:.2} × {l}") })
                .unwrap_or_default()
        );
        rows.push(Row { backend: label, name, measured, peak_rss_mib: peak, ratio, p99_target_ms });
    };
    let vs_minimal = |m: &Measured, minimal_per_second: f64| {
        Some((
            format!("minimal handler, same body size ({minimal_per_second:.0}/s)"),
            m.per_second() / minimal_per_second,
            Some(0.8),
        ))
    };
    let vs_signing = |m: &Measured, limit: f64, signatures: f64, target: Option<f64>| {
        Some((format!("signing limit ({limit:.0}/s at {signatures} sig/response)"), m.per_second() / limit, target))
    };

    // Metadata, each measured in `rounds` rounds; each round's endpoint run is judged against the
    // mean of the minimal handler just before and just after it (the machine's speed drifts, so
    // one side alone favours whichever way it drifted, as for the signing limit), and the round
    // with the median ratio is reported, so one noisy second does not decide the verdict.
    let metadata: [(&'static str, &str, bool); 3] = [
        ("discovery", "/.well-known/openid-configuration", false),
        ("jwks", "/jwks.json", false),
        ("jwks-if-none-match (304)", "/jwks.json", true),
    ];
    let jwks = Conn::new(target.provider).send(load::get("/jwks.json").body(Default::default())?).await?;
    let etag = jwks.header("etag").context("JWKS without ETag")?.to_string();
    let fetchers = |path: &str, conditional: bool, count: usize| {
        flows::Fetch::many(target.provider, path, conditional.then_some(etag.as_str()), count)
    };
    // Each metadata endpoint's peak rate and body size, for the open-loop latency runs below.
    let mut peaks = Vec::new();
    for (name, path, conditional) in metadata {
        if !wanted(args, name) {
            continue;
        }
        // Judged against the minimal handler moving the same number of body bytes.
        let body_bytes = if conditional {
            0
        } else {
            Conn::new(target.provider).send(load::get(path).body(Default::default())?).await?.body.len()
        };
        let mut rounds = Vec::new();
        let mut before = limits.minimal_now(body_bytes).await?.per_second();
        for _ in 0..args.rounds.max(1) {
            let m = load::run(fetchers(path, conditional, n), warmup, duration).await?;
            let after = limits.minimal_now(body_bytes).await?.per_second();
            let minimal = (before + after) / 2.0;
            rounds.push((m.per_second() / minimal, m, minimal));
            before = after;
        }
        rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (_, m, minimal) = rounds.swap_remove(rounds.len() / 2);
        let ratio = vs_minimal(&m, minimal);
        peaks.push((name, path, conditional, body_bytes, m.per_second()));
        record(name, m, ratio, Some(P99_TARGET_MS));
    }

    // The latency target at 64 connections, open loop: the connections together offer half of the
    // endpoint's peak rate. At the peak (closed loop, above) latency is queueing by construction:
    // 64 connections at R req/s wait 64/R s on average, whatever the server does per request.
    for (name, path, conditional, body_bytes, peak) in peaks {
        let rate = peak * OPEN_LOOP_SHARE;
        let sized = format!("/size/{body_bytes}");
        let minimal = limits.minimal_server.measure(&sized, n, warmup, duration, Some(rate)).await?;
        let m = load::run_paced(fetchers(path, conditional, n), warmup, duration, rate).await?;
        let reference = format!(
            "minimal handler at the same offered rate: p99 {:.2} ms, {:.0} req/s",
            minimal.p99_us as f64 / 1000.0,
            minimal.per_second()
        );
        let row = match name {
            "discovery" => "discovery, open loop at half its peak",
            "jwks" => "jwks, open loop at half its peak",
            _ => "jwks 304, open loop at half its peak",
        };
        record(row, m, Some((reference, f64::NAN, None)), Some(P99_TARGET_MS));
    }

    // Latency without the load generator's own queueing: the same document at 8 connections.
    if wanted(args, "discovery") {
        let workers = fetchers("/.well-known/openid-configuration", false, 8);
        let minimal = limits.minimal_server.measure("/", 8, warmup, duration, None).await?;
        let m = load::run(workers, warmup, duration).await?;
        let ratio = Some((
            format!("minimal handler at 8 connections (p99 {:.2} ms)", minimal.p99_us as f64 / 1000.0),
            m.per_second() / minimal.per_second(),
            None,
        ));
        record("discovery at 8 connections", m, ratio, None);
    }

    // The login round trip, a fresh browser each time.
    if wanted(args, "login") {
        let workers = (0..n)
            .map(|i| flows::LoginRoundTrip {
                clients: clients.clone(),
                login: flows::USERS[i % flows::USERS.len()],
                browser: Browser::new(&target),
            })
            .collect();
        let (m, limit, _) = limits.against_signing(workers, 1, 2.0).await?;
        let ratio = vs_signing(&m, limit, 2.0, None);
        record("login round trip", m, ratio, None);
    }

    // authorization_code grant alone: codes minted first from signed-in browsers.
    if wanted(args, "authorization_code") {
        // The grant cannot beat the signing limit; mint enough codes to run at it throughout.
        let needed = (limits.signing(2.0) * (args.warmup + args.duration) as f64 * 1.3 / n as f64).ceil() as usize;
        eprintln!("  minting {} codes ...", needed * n);
        let mut minting = Vec::new();
        for i in 0..n {
            let target = target.clone();
            let clients = clients.clone();
            minting.push(tokio::spawn(async move {
                let mut browser = Browser::new(&target);
                let login = flows::USERS[i % flows::USERS.len()];
                browser.login(&clients, flows::RP, login).await?;
                let mut codes = Vec::with_capacity(needed);
                for _ in 0..needed {
                    codes.push(browser.code(flows::RP, login).await?);
                }
                anyhow::Ok(flows::CodeGrant { browser, clients, codes })
            }));
        }
        let mut workers = Vec::new();
        for task in minting {
            workers.push(task.await??);
        }
        eprintln!("  measuring the grant ...");
        let (m, limit, _) = limits.against_signing(workers, 1, 2.0).await?;
        let ratio = vs_signing(&m, limit, 2.0, Some(0.5));
        record("authorization_code grant", m, ratio, None);
    }

    // Signed-in sessions for the token-using endpoints.
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let sessions = sign_in(&target, &clients, flows::RP, n).await?;
    for (client, name, signatures, expect_id) in [
        (flows::RP, "refresh_token grant (with ID token)", 2.0, true),
        (flows::RP_NO_ID, "refresh_token grant (no ID token)", 1.0, false),
    ] {
        if !wanted(args, name) {
            continue;
        }
        let families =
            if client == flows::RP { sessions.clone() } else { sign_in(&target, &clients, client, n).await? };
        let workers = families
            .into_iter()
            .map(|t| flows::Refresh {
                conn: Conn::new(target.provider),
                authorization: clients.basic(client),
                refresh_token: t.1,
                issued: issued.clone(),
                expect_id_token: expect_id,
            })
            .collect();
        let (m, limit, _) = limits.against_signing(workers, args.rounds, signatures).await?;
        // Target 2 is set for PostgreSQL + Redis; on SQLite the ratio is reported without one.
        let target = (backend == Backend::PostgresRedis).then_some(0.7);
        let ratio = vs_signing(&m, limit, signatures, target);
        record(name, m, ratio, None);
    }
    // RFC 6749 §4.4: one signature per answer, judged like the refresh grant.
    let name = "client_credentials grant";
    if wanted(args, name) {
        let workers = (0..n)
            .map(|_| flows::ClientCredentials {
                conn: Conn::new(target.provider),
                authorization: clients.basic(flows::SERVICE),
            })
            .collect();
        let (m, limit, _) = limits.against_signing(workers, args.rounds, 1.0).await?;
        let target = (backend == Backend::PostgresRedis).then_some(0.7);
        let ratio = vs_signing(&m, limit, 1.0, target);
        record(name, m, ratio, None);
    }
    let vs_verify = |m: &Measured, limit: f64| {
        Some((format!("signing limit ({limit:.0} sig/s)"), m.per_second() / limit, Some(10.0)))
    };
    if wanted(args, "userinfo") {
        let workers = sessions.iter().map(|t| flows::UserInfo::new(target.provider, &t.0)).collect();
        let (m, limit, _) = limits.against_signing(workers, args.rounds, 1.0).await?;
        let ratio = vs_verify(&m, limit);
        record("userinfo", m, ratio, None);
    }
    if wanted(args, "introspection") {
        let authorization = clients.basic(flows::API);
        let workers = sessions.iter().map(|t| flows::Introspect::new(target.provider, &authorization, &t.0)).collect();
        let (m, limit, _) = limits.against_signing(workers, args.rounds, 1.0).await?;
        let ratio = vs_verify(&m, limit);
        record("introspection", m, ratio, None);
    }
    if wanted(args, "revocation") {
        let mut pool = std::mem::take(&mut *issued.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        if pool.len() < n {
            pool.extend(sessions.iter().map(|t| t.0.clone()));
        }
        let per = pool.len().div_ceil(n);
        let workers = pool
            .chunks(per)
            .map(|chunk| flows::Revoke {
                conn: Conn::new(target.provider),
                authorization: clients.basic(flows::RP),
                tokens: chunk.to_vec(),
                next: 0,
            })
            .collect();
        let m = load::run(workers, warmup, duration).await?;
        record("revocation (access tokens)", m, None, None);
    }
    Ok(())
}

/// `n` fresh logins: (access token, refresh token).
async fn sign_in(
    target: &Target,
    clients: &Clients,
    client: &'static str,
    n: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let target = target.clone();
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let mut browser = Browser::new(&target);
            let tokens = browser.login(&clients, client, flows::USERS[i % flows::USERS.len()]).await?;
            anyhow::Ok((tokens.access_token, tokens.refresh_token))
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await??);
    }
    Ok(out)
}

fn render(args: &RunArgs, limits: &Limits, rows: &[Row], memory: &[(&str, f64, f64)]) -> String {
    let mut out = String::new();
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let _ = writeln!(out, "## Benchmark run {date}\n");
    let _ = writeln!(
        out,
        "{} cores; {} connections; {} s measured after {} s warm-up per endpoint; load generator on {} threads of the same machine.\n",
        limits.cores, args.connections, args.duration, args.warmup, args.client_threads
    );
    let _ = writeln!(out, "| limit | value |\n|---|---|");
    let _ = writeln!(out, "| RSA-2048 signatures/s, one core (aws-lc, parsed key) | {:.0} |", limits.signs_per_core);
    let _ =
        writeln!(out, "| RS256 verifications/s, one core (jsonwebtoken + aws-lc) | {:.0} |", limits.verifies_per_core);
    let _ = writeln!(
        out,
        "| signing limit = {} cores × signs/core | {:.0} signatures/s |",
        limits.cores,
        limits.signing(1.0)
    );
    let _ = writeln!(
        out,
        "| minimal poem handler | {:.0} req/s (p50 {} µs, p99 {} µs) |\n",
        limits.minimal.per_second(),
        limits.minimal.p50_us,
        limits.minimal.p99_us
    );
    let _ = writeln!(
        out,
        "| backend | endpoint | req/s | p50 ms | p99 ms | errors | peak RSS MiB | ratio to its limit | target |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|---|");
    for row in rows {
        let (ratio, mut target) = match &row.ratio {
            // A reference, not a ratio (the open-loop rows).
            Some((limit, r, _)) if r.is_nan() => (limit.clone(), String::new()),
            Some((limit, r, target)) => {
                let verdict = match target {
                    Some(t) if r >= t => format!("≥ {t} ✓"),
                    Some(t) => format!("≥ {t} ✗"),
                    None => String::new(),
                };
                (format!("{r:.2} × {limit}"), verdict)
            }
            None => ("—".into(), String::new()),
        };
        if let Some(ms) = row.p99_target_ms {
            let held = (row.measured.p99_us as f64) < ms * 1000.0;
            let p99 = format!("p99 < {ms} ms {}", if held { "✓" } else { "✗" });
            target = if target.is_empty() { p99 } else { format!("{target}; {p99}") };
        }
        if target.is_empty() {
            target = "—".into();
        }
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {ratio} | {target} |",
            row.backend,
            row.name,
            row.measured.per_second(),
            row.measured.p50_us as f64 / 1000.0,
            row.measured.p99_us as f64 / 1000.0,
            row.measured.errors,
            row.peak_rss_mib,
        );
    }
    let _ = writeln!(out, "\n| backend | idle RSS after start MiB | peak RSS over the run MiB |\n|---|---:|---:|");
    for (backend, idle, peak) in memory {
        let _ = writeln!(out, "| {backend} | {idle:.1} | {peak:.1} |");
    }
    out
}
