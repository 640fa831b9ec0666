//! A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request
//! as soon as the previous answer is read, for a fixed duration after a warm-up. One "operation"
//! may be several requests (the login round trip); its latency is the whole operation's.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection, reopened if the server closes it.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A response read to the end.
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("response is not JSON")
    }
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    async fn open(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.addr).await.with_context(|| format!("connect {}", self.addr))?;
            stream.set_nodelay(true)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().context("no connection")
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        let sender = self.open().await?;
        sender.ready().await?;
        let resp: Response<hyper::body::Incoming> = match sender.send_request(req).await {
            Ok(resp) => resp,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer { status: parts.status, headers: parts.headers, body })
    }
}

/// Builds a request for `conn`'s host.
pub fn get(path_and_query: &str) -> hyper::http::request::Builder {
    Request::get(path_and_query).header("host", "127.0.0.1")
}

pub fn post_form(path: &str) -> hyper::http::request::Builder {
    Request::post(path).header("host", "127.0.0.1").header("content-type", "application/x-www-form-urlencoded")
}

/// What a connection does once per operation. `Ok(false)` counts as an error response.
pub trait Worker: Send + 'static {
    fn step(&mut self) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

#[derive(Debug, Clone)]
pub struct Measured {
    pub operations: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.operations as f64 / self.seconds
    }
}

/// Runs every worker concurrently: `warmup` unmeasured, then `duration` measured.
pub async fn run<W: Worker>(workers: Vec<W>, warmup: Duration, duration: Duration) -> anyhow::Result<Measured> {
    Ok(run_keep(workers, warmup, duration).await?.0)
}

/// As [`run`], handing the workers back (a refresh worker holds its family's current token).
pub async fn run_keep<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(Measured, Vec<W>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let measure_from = start + warmup;
    let measure_until = measure_from + duration;
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut first_error: Option<String> = None;
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                let outcome = worker.step().await;
                let ended = Instant::now();
                if began < measure_from || ended > measure_until {
                    if ended > measure_until {
                        break;
                    }
                    continue;
                }
                match outcome {
                    Ok(true) => latencies.push((ended - began).as_micros().min(u32::MAX as u128) as u32),
                    Ok(false) => errors += 1,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        // A refused connection would otherwise spin.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            (latencies, errors, first_error, worker)
        }));
    }
    tokio::time::sleep_until((measure_until + Duration::from_millis(1)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut returned = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (latencies, e, first, worker) = task.await?;
        returned.push(worker);
        all.extend(latencies);
        errors += e;
        if first_error.is_none() {
            first_error = first;
        }
    }
    if let Some(e) = first_error {
        eprintln!("    first error: {e}");
    }
    if all.is_empty() {
        bail!("no operation completed in the measured window ({errors} errors)");
    }
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as u64;
    let measured = Measured {
        operations: all.len() as u64,
        errors,
        seconds: duration.as_secs_f64(),
        p50_us: at(0.50),
        p99_us: at(0.99),
    };
    Ok((measured, returned))
}
