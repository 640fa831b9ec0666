//! The process metrics every Prometheus client library exports (the `process_` families of the
//! Prometheus client conventions, as client_golang's process collector writes them), read from
//! `/proc/self` at scrape time. Elsewhere than on Linux there is no `/proc`: the families are
//! absent, and a file that cannot be read or parsed only leaves its families out.
//!
//! Rendered as text and appended to the exposition rather than recorded through the `metrics`
//! crate: its counters hold integers, and `process_cpu_seconds_total` is a counter of fractional
//! seconds.

use std::fmt::Write as _;

/// Every family this module can write: name, Prometheus type, help text.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    ("process_open_fds", "gauge", "Number of open file descriptors."),
    ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
];

/// Clock ticks per second of the times in `/proc/<pid>/stat`. The kernel reports them in USER_HZ,
/// which is 100 on every Linux architecture (its user-space ABI; client_golang's procfs assumes
/// the same rather than asking `sysconf`).
const USER_HZ: f64 = 100.0;

/// What `/proc/self/stat` says (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// utime + stime, in seconds.
    pub cpu_seconds: f64,
    /// Seconds after boot at which the process started.
    pub start_after_boot_seconds: f64,
    pub virtual_memory_bytes: u64,
}

/// Parses `/proc/self/stat`. The second field (the command name, in parentheses) may itself hold
/// spaces and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // Field 3 (`state`) is the first one after the name; proc(5) numbers them from 1.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3).and_then(|f| f.parse::<u64>().ok());
    let (utime, stime, starttime, vsize) = (field(14)?, field(15)?, field(22)?, field(23)?);
    Some(Stat {
        cpu_seconds: (utime + stime) as f64 / USER_HZ,
        start_after_boot_seconds: starttime as f64 / USER_HZ,
        virtual_memory_bytes: vsize,
    })
}

/// The resident set size from `/proc/self/status` (`VmRSS:   1234 kB`), in bytes: given in bytes
/// there, so the page size need not be asked for.
pub fn parse_resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// The soft limit on open files from `/proc/self/limits`; `None` when it is `unlimited`.
pub fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// The values of one scrape; `None` for what could not be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sample {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

impl Sample {
    /// Reads `/proc/self` now (Linux); elsewhere an empty sample.
    pub fn read() -> Sample {
        #[cfg(target_os = "linux")]
        {
            let read = |path: &str| std::fs::read_to_string(path).ok();
            let stat = read("/proc/self/stat").as_deref().and_then(parse_stat);
            let boot = read("/proc/stat").as_deref().and_then(parse_boot_time);
            Sample {
                cpu_seconds: stat.map(|s| s.cpu_seconds),
                resident_memory_bytes: read("/proc/self/status").as_deref().and_then(parse_resident_bytes),
                virtual_memory_bytes: stat.map(|s| s.virtual_memory_bytes),
                open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count() as u64),
                max_fds: read("/proc/self/limits").as_deref().and_then(parse_max_fds),
                start_time_seconds: stat.zip(boot).map(|(s, boot)| boot as f64 + s.start_after_boot_seconds),
            }
        }
        #[cfg(not(target_os = "linux"))]
        Sample::default()
    }

    /// Appends the families with a value, each with its `# HELP` and `# TYPE` lines.
    pub fn render(&self, out: &mut String) {
        let values = [
            self.cpu_seconds,
            self.resident_memory_bytes.map(|v| v as f64),
            self.virtual_memory_bytes.map(|v| v as f64),
            self.open_fds.map(|v| v as f64),
            self.max_fds.map(|v| v as f64),
            self.start_time_seconds,
        ];
        for ((name, kind, help), value) in FAMILIES.iter().zip(values) {
            if let Some(value) = value {
                let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name holding a space and a parenthesis.
    const STAT: &str = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 9000 0 12 0 250 75 0 0 20 0 9 0 \
                        123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 17990 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(stat.cpu_seconds, 3.25, "(250 + 75) ticks at USER_HZ 100");
        assert_eq!(stat.start_after_boot_seconds, 1234.56);
        assert_eq!(stat.virtual_memory_bytes, 987_654_321);
        assert_eq!(parse_stat("4242 (cut short) S 1 2"), None);
    }

    #[test]
    fn status_limits_and_boot_time_are_read() {
        let status = "Name:\tdingtalk-oidc\nVmSize:\t  200000 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n";
        assert_eq!(parse_resident_bytes(status), Some(51200 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(parse_max_fds("Max open files            unlimited            unlimited            files"), None);
        assert_eq!(parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
    }

    #[test]
    fn only_families_with_a_value_are_written_each_with_help_and_type() {
        let mut out = String::new();
        Sample { cpu_seconds: Some(1.5), open_fds: Some(12), ..Sample::default() }.render(&mut out);
        assert_eq!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n\n\
             # HELP process_open_fds Number of open file descriptors.\n\
             # TYPE process_open_fds gauge\nprocess_open_fds 12\n\n"
        );
        let mut none = String::new();
        Sample::default().render(&mut none);
        assert!(none.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn every_family_is_read_from_proc_self_on_linux() {
        let sample = Sample::read();
        assert!(sample.cpu_seconds.is_some_and(|s| s >= 0.0));
        assert!(sample.resident_memory_bytes.is_some_and(|b| b > 0));
        assert!(sample.virtual_memory_bytes.is_some_and(|b| b >= sample.resident_memory_bytes.unwrap()));
        assert!(sample.open_fds.is_some_and(|n| n >= 3), "stdin, stdout, stderr");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(sample.start_time_seconds.is_some_and(|t| t > now - 86_400.0 * 365.0 && t <= now + 1.0));
    }
}
