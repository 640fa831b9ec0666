//! Time as the protocol logic sees it. Injectable so tests can move past idle and absolute
//! lifetimes without sleeping; store TTLs only collect garbage behind it.

use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// The wall clock plus an offset a test can advance.
#[derive(Default)]
pub struct OffsetClock {
    offset: AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp() + self.offset.load(Ordering::SeqCst)
    }
}
