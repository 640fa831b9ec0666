//! Where Redis's clock stands against ours, for the deadlines the scripts check with `TIME` (see
//! the module documentation of `store::redis`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use fred::prelude::*;

pub(super) fn millis_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where Redis's clock stands against ours, for deadlines the scripts check with `TIME`.
pub(super) struct RedisClock {
    /// Redis time minus local time, in milliseconds.
    pub offset_ms: Arc<AtomicI64>,
    /// When the offset was last measured (local milliseconds).
    pub measured_at: Arc<AtomicI64>,
    /// How long after sending a script may still act: half the command timeout, so that its
    /// answer still reaches a caller that waits the whole timeout.
    pub budget_ms: i64,
}

/// How often the offset is measured again (clocks drift; NTP steps).
const CLOCK_REMEASURE_MS: i64 = 60_000;
/// A `TIME` answer slower than this says little about the offset; it is not used.
const CLOCK_MAX_ROUND_TRIP_MS: i64 = 50;

impl RedisClock {
    /// One `TIME` round trip: the offset assumes the answer was read halfway through it.
    pub async fn measure(client: &Client) -> Result<Option<i64>, Error> {
        let sent = millis_now();
        let time: Vec<String> =
            client.custom(fred::types::CustomCommand::new_static("TIME", None, false), Vec::<String>::new()).await?;
        let received = millis_now();
        let (Some(secs), Some(micros)) =
            (time.first().and_then(|s| s.parse::<i64>().ok()), time.get(1).and_then(|s| s.parse::<i64>().ok()))
        else {
            return Ok(None);
        };
        if received - sent > CLOCK_MAX_ROUND_TRIP_MS {
            return Ok(None);
        }
        Ok(Some(secs * 1000 + micros / 1000 - (sent + received) / 2))
    }

    /// The deadline of a script sent now, on Redis's clock; measures the offset again in the
    /// background when it is old.
    pub fn deadline(&self, pool: &Pool) -> String {
        let now = millis_now();
        if now - self.measured_at.load(Ordering::Relaxed) > CLOCK_REMEASURE_MS {
            self.measured_at.store(now, Ordering::Relaxed);
            let (client, offset) = (pool.next().clone(), self.offset_ms.clone());
            tokio::spawn(async move {
                if let Ok(Some(measured)) = RedisClock::measure(&client).await {
                    offset.store(measured, Ordering::Relaxed);
                }
            });
        }
        (now + self.offset_ms.load(Ordering::Relaxed) + self.budget_ms).to_string()
    }
}
