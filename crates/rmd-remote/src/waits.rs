//! How long a remote operation may wait: every request to a remote is bounded, so a remote
//! that accepts a connection and never answers, or answers a byte at a time, is reported
//! (exit 2) instead of hanging.
//!
//! | variable | default | bounds |
//! |---|---|---|
//! | `RMD_REMOTE_CONNECT_TIMEOUT` | 5s | opening a connection |
//! | `RMD_REMOTE_IDLE_TIMEOUT` | 10s | a response that sends nothing for that long |
//! | `RMD_REMOTE_REQUEST_TIMEOUT` | 20s | a whole small request: a manifest, a record, a size, a listing page |
//! | `RMD_REMOTE_MIN_RATE` | 65536 | bytes per second a file transfer must average over every 15 s (0: no floor) |
//!
//! Durations are written as `humantime` reads them (`5s`, `1m 30s`, `500ms`). Failed
//! requests are retried within [`Waits::retry`] (15 s after the first attempt at most).

use crate::error::{RemoteError, Result};
use std::time::{Duration, Instant};

/// The bounds of one remote's operations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waits {
    /// Opening a connection.
    pub connect: Duration,
    /// Silence within a response.
    pub idle: Duration,
    /// A whole small request.
    pub request: Duration,
    /// The least bytes per second a file transfer averages over each [`RATE_WINDOW`].
    pub min_rate: u64,
}

/// The window over which a transfer's rate is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(15);

impl Default for Waits {
    fn default() -> Self {
        Waits {
            connect: Duration::from_secs(5),
            idle: Duration::from_secs(10),
            request: Duration::from_secs(20),
            min_rate: 64 << 10,
        }
    }
}

impl Waits {
    /// The defaults, overridden by the `RMD_REMOTE_*` environment variables; a value that
    /// does not parse is a configuration error naming the variable.
    pub fn from_env() -> Result<Waits> {
        let mut w = Waits::default();
        let duration = |var: &str, into: &mut Duration| -> Result<()> {
            if let Ok(v) = std::env::var(var) {
                let d = humantime::parse_duration(v.trim()).map_err(|e| {
                    RemoteError::config(format!("{var}={v:?}: not a duration such as 5s or 1m ({e})"))
                })?;
                if d.is_zero() {
                    return Err(RemoteError::config(format!("{var}={v:?}: must be longer than zero")));
                }
                *into = d;
            }
            Ok(())
        };
        duration("RMD_REMOTE_CONNECT_TIMEOUT", &mut w.connect)?;
        duration("RMD_REMOTE_IDLE_TIMEOUT", &mut w.idle)?;
        duration("RMD_REMOTE_REQUEST_TIMEOUT", &mut w.request)?;
        if let Ok(v) = std::env::var("RMD_REMOTE_MIN_RATE") {
            w.min_rate = v.trim().parse().map_err(|_| {
                RemoteError::config(format!(
                    "RMD_REMOTE_MIN_RATE={v:?}: expected bytes per second (0 for no floor)"
                ))
            })?;
        }
        Ok(w)
    }

    /// The HTTP client's timeouts: connect, and silence while reading a response.
    pub fn client_options(&self, allow_http: bool) -> object_store::ClientOptions {
        object_store::ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(self.connect)
            .with_read_timeout(self.idle)
            // Whole transfers are bounded by the rate floor and the per-request deadlines.
            .with_timeout_disabled()
    }

    /// Retries of a failed request: 2 more, none started later than 15 s after the first.
    pub fn retry(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
            ..Default::default()
        }
    }

    /// How long sending `bytes` may take at the rate floor, after a request's deadline.
    pub fn transfer_deadline(&self, bytes: u64) -> Duration {
        match bytes.checked_div(self.min_rate) {
            Some(secs) => self.request + Duration::from_secs(secs),
            None => Duration::from_secs(24 * 3600),
        }
    }
}

/// Watches a transfer's rate: [`RateFloor::add`] fails once a full window has passed with
/// fewer bytes than the floor asks for.
#[derive(Debug)]
pub struct RateFloor {
    min_rate: u64,
    window_start: Instant,
    window_bytes: u64,
}

impl RateFloor {
    /// A watch starting now.
    pub fn new(min_rate: u64) -> RateFloor {
        RateFloor { min_rate, window_start: Instant::now(), window_bytes: 0 }
    }

    /// Counts `n` bytes; `Err(rate)` (bytes per second in the window that ended) when the
    /// window is over and the transfer was slower than the floor.
    pub fn add(&mut self, n: u64) -> std::result::Result<(), f64> {
        self.window_bytes += n;
        let elapsed = self.window_start.elapsed();
        if self.min_rate == 0 || elapsed < RATE_WINDOW {
            return Ok(());
        }
        let rate = self.window_bytes as f64 / elapsed.as_secs_f64();
        if rate < self.min_rate as f64 {
            return Err(rate);
        }
        self.window_start = Instant::now();
        self.window_bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_rate_floor() {
        let w = Waits { min_rate: 1000, ..Waits::default() };
        assert_eq!(w.transfer_deadline(10_000), w.request + Duration::from_secs(10));
        let none = Waits { min_rate: 0, ..Waits::default() };
        assert!(none.transfer_deadline(1) >= Duration::from_secs(3600));
        let mut floor = RateFloor::new(1000);
        assert!(floor.add(10).is_ok(), "a window that has not ended passes");
        floor.window_start -= RATE_WINDOW;
        assert!(floor.add(10).is_err(), "20 bytes in 15 s is under 1000 B/s");
        let mut fast = RateFloor::new(1000);
        fast.window_start -= RATE_WINDOW;
        assert!(fast.add(1 << 20).is_ok());
    }
}
