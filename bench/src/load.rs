//! An HTTP/1.1 load generator: N keep-alive connections for a fixed duration after a warm-up.
//! Closed loop ([`run`]): each connection sends its next request as soon as the previous answer is
//! read, which finds the peak rate; its latency is then mostly queueing (Little's law: mean latency
//! = connections / rate). Open loop ([`run_paced`]): the connections together offer a fixed rate,
//! released by a pacer thread every 100 µs to whichever connection is free, and a request that
//! waited for a connection still busy with an earlier answer counts from when it was released (no
//! coordinated omission), which is what a latency target means. One "operation" may be several requests (the
//! login round trip); its latency is the whole operation's.

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use bytes::BytesMut;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection, reopened if the server closes it. Requests are written and
/// responses parsed in the calling task (httparse, Content-Length bodies): the load generator shares
/// the machine with the server, so every microsecond it spends is taken from the server. (hyper's
/// client, used before, cost ~2× more per request: a connection task and a channel per request.)
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// What has been read of the answer so far.
    buf: BytesMut,
    /// The request being written (reused: no allocation per request).
    out: Vec<u8>,
}

/// A response read to the end. Its header section is kept as received and searched on demand:
/// building a header map allocated per header, and most workers only look at the status.
pub struct Answer {
    pub status: StatusCode,
    head: Bytes,
    pub body: Bytes,
}

impl Answer {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_lines().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.header_lines().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// `(name, value)` of each header line: the status line comes first, and httparse already
    /// checked the syntax.
    fn header_lines(&self) -> impl Iterator<Item = (&str, &str)> {
        self.head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
            let (n, v) = line.split_once(':')?;
            Some((n, v.trim()))
        })
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("response is not JSON")
    }
}

/// A request written out once, for workers that send the same request every time (`Conn::send_encoded`).
pub fn encode(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(
        128 + target.len() + body.len() + headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>(),
    );
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Bytes::from(out)
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, stream: None, buf: BytesMut::with_capacity(16 * 1024), out: Vec::with_capacity(2048) }
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        self.out.clear();
        let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        self.out.extend_from_slice(parts.method.as_str().as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(target.as_bytes());
        self.out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &parts.headers {
            self.out.extend_from_slice(name.as_str().as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || parts.method == hyper::Method::POST {
            let _ = write!(self.out, "content-length: {}\r\n", body.len());
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(&body);
        let out = std::mem::take(&mut self.out);
        let result = self.send_encoded(&out).await;
        self.out = out;
        result
    }

    /// Sends a request made by [`encode`] and reads its answer.
    pub async fn send_encoded(&mut self, request: &[u8]) -> anyhow::Result<Answer> {
        let result = self.exchange(request).await;
        if result.is_err() {
            self.stream = None;
            self.buf.clear();
        }
        result
    }

    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Answer> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await.with_context(|| format!("connect {}", self.addr))?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let stream = self.stream.as_mut().context("no connection")?;
        stream.write_all(request).await?;
        loop {
            if let Some(answer) = parse_response(&mut self.buf)? {
                if answer.1 {
                    self.stream = None;
                }
                return Ok(answer.0);
            }
            if stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }
}

/// A complete response at the front of `buf` (taken out of it), and whether the server closes the
/// connection after it; `None` while incomplete.
fn parse_response(buf: &mut BytesMut) -> anyhow::Result<Option<(Answer, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = StatusCode::from_u16(parsed.code.context("no status")?)?;
    let mut content_length = 0usize;
    let mut close = false;
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value)?.trim().parse()?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked responses are not supported by the load generator");
        } else if h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close") {
            close = true;
        }
    }
    if buf.len() < head_len + content_length {
        return Ok(None);
    }
    let mut response = buf.split_to(head_len + content_length);
    let body = response.split_off(head_len).freeze();
    let head = response.freeze();
    Ok(Some((Answer { status, head, body }, close)))
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
    Ok(run_inner(workers, warmup, duration, None).await?.0)
}

/// Open loop: the workers together offer `rate` operations per second, evenly spread. A pacer
/// thread releases the operations as they fall due, every `PACER_TICK`, to whichever connection is
/// free (tokio's timer has 1 ms ticks: pacing each connection by it sent the requests due within a
/// millisecond together, a burst that set the p99 of the server and of the minimal handler alike).
pub async fn run_paced<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    duration: Duration,
    rate: f64,
) -> anyhow::Result<Measured> {
    let pacer = Pacer::start(rate.max(1.0));
    let result = run_inner(workers, warmup, duration, Some(pacer.clone())).await;
    pacer.stop.store(true, Ordering::Relaxed);
    Ok(result?.0)
}

/// How often the pacer releases what has fallen due: short enough that a release is a handful of
/// requests, long enough that the pacer thread costs little of the shared cores.
const PACER_TICK: Duration = Duration::from_micros(100);

/// Operation `k` is due at `start + k / rate`. The pacer hands operations out as semaphore permits
/// (in order: the semaphore is fair) and remembers when it released each batch, so that a
/// connection taking operation `k` knows when it became available.
struct Pacer {
    start: Instant,
    rate: f64,
    permits: tokio::sync::Semaphore,
    taken: std::sync::atomic::AtomicU64,
    /// `(operations released so far, when)` after each release, oldest first.
    releases: std::sync::Mutex<std::collections::VecDeque<(u64, Instant)>>,
    stop: AtomicBool,
}

impl Pacer {
    fn start(rate: f64) -> Arc<Pacer> {
        let pacer = Arc::new(Pacer {
            start: Instant::now(),
            rate,
            permits: tokio::sync::Semaphore::new(0),
            taken: std::sync::atomic::AtomicU64::new(0),
            releases: std::sync::Mutex::new(std::collections::VecDeque::new()),
            stop: AtomicBool::new(false),
        });
        let ticking = pacer.clone();
        std::thread::spawn(move || {
            let mut released = 0u64;
            while !ticking.stop.load(Ordering::Relaxed) {
                std::thread::sleep(PACER_TICK);
                let now = Instant::now();
                let due = ((now - ticking.start).as_secs_f64() * ticking.rate) as u64 + 1;
                if due > released {
                    let newly = due - released;
                    released = due;
                    if let Ok(mut releases) = ticking.releases.lock() {
                        releases.push_back((released, now));
                    }
                    ticking.permits.add_permits(newly as usize);
                }
            }
            // Wake any connection still waiting, so that it sees the stop flag.
            ticking.permits.close();
        });
        pacer
    }

    /// Waits for the next operation; returns when it started to count: when it was due, or when the
    /// pacer released it if that was later (the pacer thread shares the cores too, and its own
    /// delay is not the server's). `None` once closed.
    async fn next(&self) -> Option<Instant> {
        self.permits.acquire().await.ok()?.forget();
        let k = self.taken.fetch_add(1, Ordering::Relaxed);
        let due = self.start + Duration::from_secs_f64(k as f64 / self.rate);
        let released_at = self.releases.lock().ok().and_then(|mut releases| {
            // Batches long taken are forgotten (with a margin for connections that took an earlier
            // operation and have not looked it up yet).
            while releases.front().is_some_and(|(count, _)| count + 100_000 <= k) {
                releases.pop_front();
            }
            let batch = releases.partition_point(|(count, _)| *count <= k);
            releases.get(batch).map(|(_, at)| *at)
        });
        Some(released_at.map_or(due, |at| at.max(due)))
    }
}

/// As [`run`], handing the workers back (a refresh worker holds its family's current token).
pub async fn run_keep<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(Measured, Vec<W>)> {
    run_inner(workers, warmup, duration, None).await
}

/// `pacer`: releases the operations (open loop), or none (closed loop).
async fn run_inner<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    duration: Duration,
    pacer: Option<Arc<Pacer>>,
) -> anyhow::Result<(Measured, Vec<W>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let measure_from = start + warmup;
    let measure_until = measure_from + duration;
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let stop = stop.clone();
        let pacer = pacer.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut first_error: Option<String> = None;
            while !stop.load(Ordering::Relaxed) {
                let began = match &pacer {
                    None => Instant::now(),
                    // Taken after it became available: every connection was busy with earlier
                    // answers, the server's delay, counted from then (no coordinated omission).
                    Some(pacer) => match pacer.next().await {
                        Some(available) => available.min(Instant::now()),
                        None => break,
                    },
                };
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
