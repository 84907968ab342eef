//! When to try a request again. A pure function of (attempt, outcome, now), so the policy is
//! tested without sleeping or a server.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is an error rather than a long sleep.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The server answered.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Connection refused or reset, or a timeout.
    Transport,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// The outcome is final (success, or an error that retrying will not fix).
    Done,
    Retry(Duration),
    /// Retrying would need more than `max_retry_after`, in seconds.
    TooLong(u64),
    /// Out of attempts.
    GiveUp,
}

impl RetryPolicy {
    pub fn decide(&self, attempt: u32, outcome: Outcome, now: SystemTime) -> RetryDecision {
        let retry_after = match &outcome {
            Outcome::Status { status, .. } if !(*status == 429 || (500..600).contains(status)) => {
                return RetryDecision::Done;
            }
            Outcome::Status { retry_after, .. } => retry_after
                .as_deref()
                .and_then(|value| parse_retry_after(value, now)),
            Outcome::Transport => None,
        };
        if attempt >= self.max_retries {
            return RetryDecision::GiveUp;
        }
        if let Some(wait) = retry_after {
            if wait > self.max_retry_after {
                return RetryDecision::TooLong(wait.as_secs());
            }
            return RetryDecision::Retry(wait);
        }
        let exponential = self
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay);
        // Jitter of up to a quarter, derived from the clock: spreads concurrent retries without
        // a random number generator.
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = exponential / 4 * (nanos % 1000) / 1000;
        RetryDecision::Retry(exponential + jitter)
    }
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = crate::dates::parse_rfc2822(value)?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<&str>) -> Outcome {
        Outcome::Status {
            status,
            retry_after: retry_after.map(str::to_string),
        }
    }

    #[test]
    fn retries_only_what_can_recover() {
        let policy = RetryPolicy::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            policy.decide(0, status(200, None), now),
            RetryDecision::Done
        );
        assert_eq!(
            policy.decide(0, status(404, None), now),
            RetryDecision::Done
        );
        assert!(matches!(
            policy.decide(0, status(503, None), now),
            RetryDecision::Retry(_)
        ));
        assert!(matches!(
            policy.decide(0, Outcome::Transport, now),
            RetryDecision::Retry(_)
        ));
        assert_eq!(
            policy.decide(4, status(503, None), now),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        let now = SystemTime::UNIX_EPOCH;
        let delay = |attempt| match policy.decide(attempt, Outcome::Transport, now) {
            RetryDecision::Retry(d) => d,
            other => panic!("{other:?}"),
        };
        assert!(delay(1) > delay(0));
        let capped = RetryPolicy {
            max_retries: 30,
            ..RetryPolicy::default()
        };
        match capped.decide(20, Outcome::Transport, now) {
            RetryDecision::Retry(d) => assert!(d <= Duration::from_secs(10)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn honours_retry_after_within_a_bound() {
        let policy = RetryPolicy::default();
        let now = crate::dates::parse_rfc2822("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            policy.decide(0, status(429, Some("3")), now),
            RetryDecision::Retry(Duration::from_secs(3))
        );
        assert_eq!(
            policy.decide(0, status(503, Some("Sun, 06 Nov 1994 08:49:47 GMT")), now),
            RetryDecision::Retry(Duration::from_secs(10))
        );
        assert_eq!(
            policy.decide(0, status(503, Some("86400")), now),
            RetryDecision::TooLong(86400)
        );
        assert_eq!(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            784_111_777
        );
    }
}
