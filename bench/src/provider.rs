//! Starts the release provider (`serve --dev`) in a scratch directory with the chosen backend, and
//! reads its memory from /proc.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use std::process::{Child, Command};

use crate::load::{self, Conn};

/// The bootstrap admin token the benchmark registers clients with.
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite for everything.
    Embedded,
    /// PostgreSQL for the directory, Redis for sessions, codes and refresh tokens.
    PostgresRedis,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Embedded => "SQLite (embedded default)",
            Backend::PostgresRedis => "PostgreSQL + Redis",
        }
    }
}

pub struct Services {
    /// Admin URL of PostgreSQL (a fresh database is made from it).
    pub postgres: String,
    pub redis: String,
}

pub struct Provider {
    child: Child,
    pub addr: SocketAddr,
    pub simulator: SocketAddr,

    _dir: ScratchDir,
    database: Option<(String, String)>,
    /// (Redis URL, key prefix) whose keys are removed at the end.
    redis_keys: Option<(String, String)>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
pub struct ScratchDir(pub PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Provider {
    pub async fn start(binary: &Path, backend: Backend, services: &Services) -> anyhow::Result<Provider> {
        let port = free_port()?;
        let sim_port = free_port()?;
        let dir = std::env::temp_dir().join(format!("dingtalk-oidc-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let dir = ScratchDir(dir);
        let issuer = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg("--dev")
            .current_dir(&dir.0)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DINGTALK_OIDC_ISSUER", &issuer)
            .env("DINGTALK_OIDC_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("DINGTALK_OIDC_DEV__SIMULATOR_LISTEN", format!("127.0.0.1:{sim_port}"))
            // No demo app (and no demo client in the measured database).
            .env("DINGTALK_OIDC_DEV__DEMO_LISTEN", "")
            .env("DINGTALK_OIDC_ADMIN_TOKEN", ADMIN_TOKEN)
            // One load generator on one address: per-IP limits would measure the limiter's 429s.
            .env("DINGTALK_OIDC_LIMITS__PER_IP_PER_MINUTE", "4000000000")
            .env("DINGTALK_OIDC_LIMITS__METADATA_PER_IP_PER_MINUTE", "4000000000")
            .env("DINGTALK_OIDC_LIMITS__ADMIN_PER_IP_PER_MINUTE", "4000000000")
            .env("DINGTALK_OIDC_LIMITS__TOKEN_PER_CLIENT_PER_MINUTE", "4000000000")
            // Codes are minted ahead of the code-grant run; give them time to be spent.
            .env("DINGTALK_OIDC_TOKENS__CODE_TTL_SECS", "600")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // The provider's own default log level (info) unless BENCH_PROVIDER_LOG says otherwise.
        if let Ok(level) = std::env::var("BENCH_PROVIDER_LOG") {
            cmd.env("RUST_LOG", level);
        }
        let mut database = None;
        let mut redis_keys = None;
        if backend == Backend::PostgresRedis {
            let name = format!("bench_{}_{port}", std::process::id());
            create_database(&services.postgres, &name).await?;
            let url = replace_database(&services.postgres, &name)?;
            cmd.env("DINGTALK_OIDC_DATABASE__URL", &url)
                .env("DINGTALK_OIDC_SESSIONS__BACKEND", "redis")
                .env("DINGTALK_OIDC_REDIS__URL", &services.redis)
                .env("DINGTALK_OIDC_REDIS__PREFIX", format!("bench-{port}:"));
            database = Some((services.postgres.clone(), name));
            redis_keys = Some((services.redis.clone(), format!("bench-{port}:")));
        }
        let child = cmd.spawn().with_context(|| format!("start {}", binary.display()))?;
        let mut provider = Provider {
            child,
            addr: format!("127.0.0.1:{port}").parse()?,
            simulator: format!("127.0.0.1:{sim_port}").parse()?,

            _dir: dir,
            database,
            redis_keys,
        };
        provider.wait_ready().await?;
        Ok(provider)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the provider exited during start ({status})");
            }
            let mut conn = Conn::new(self.addr);
            if let Ok(answer) = conn.send(load::get("/readyz").body(Default::default())?).await
                && answer.status.is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the provider did not become ready within 60 s")
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {field} in /proc/{pid}/status"))
    }

    /// Resident set size now, in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        Ok(self.status_kib("VmRSS:")? as f64 / 1024.0)
    }

    /// The peak resident set size since start (the kernel's high-water mark), in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        Ok(self.status_kib("VmHWM:")? as f64 / 1024.0)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        // SIGTERM: the provider drains and exits.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((admin, name)) = self.database.take() {
            drop_database(&admin, &name).await?;
        }
        if let Some((url, prefix)) = self.redis_keys.take() {
            remove_redis_keys(&url, &prefix)?;
        }
        Ok(())
    }
}

/// Removes the run's Redis keys (refresh families live for weeks: left behind, they pile up run
/// after run in the shared Redis).
fn remove_redis_keys(url: &str, prefix: &str) -> anyhow::Result<()> {
    const UNLINK_ALL: &str = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
        redis.call('UNLINK', k) n = n + 1 end return n";
    let status = Command::new("redis-cli")
        .args(["-u", url, "EVAL", UNLINK_ALL, "0", &format!("{prefix}*")])
        .stdout(Stdio::null())
        .status()
        .context("redis-cli")?;
    if !status.success() {
        bail!("redis-cli could not remove the keys under {prefix}");
    }
    Ok(())
}

fn replace_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url).context("--postgres is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn psql(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .arg(admin_url)
        .arg("-q")
        .arg("-c")
        .arg(sql)
        .stdout(Stdio::null())
        .status()
        .context("psql")?;
    if !status.success() {
        bail!("psql failed: {sql}");
    }
    Ok(())
}

async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    psql(admin_url, &format!("CREATE DATABASE {name}")).await
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    psql(admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}
