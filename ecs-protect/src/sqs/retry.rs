//! When a failed message comes back: the consumer's [`RetryDelay`] and a handler's own
//! [`RetryAfter`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{HandlerError, Message};

/// The longest visibility timeout SQS accepts: 12 hours.
pub(crate) const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

type DelayFn = Arc<dyn Fn(&Message) -> Option<Duration> + Send + Sync>;

/// How long a message whose handler failed stays hidden before it is delivered again.
#[derive(Clone, Default)]
pub(crate) enum RetryDelay {
    /// Left hidden until its visibility timeout ends (no queue call).
    #[default]
    VisibilityTimeout,
    /// The same delay for every failure.
    Fixed(Duration),
    /// `first * 2^(receive count - 1)`, at most `max`.
    Exponential { first: Duration, max: Duration },
    /// The application's function of the message (its receive count included).
    Custom(DelayFn),
}

impl RetryDelay {
    /// The delay for `message` after its handler failed with `error`: the error's own
    /// [`RetryAfter`] first, else this policy; `None` leaves the visibility timeout alone.
    pub(crate) fn delay(&self, message: &Message, error: &HandlerError) -> Option<Duration> {
        if let Some(retry) = error.downcast_ref::<RetryAfter>() {
            return Some(retry.delay.min(MAX_VISIBILITY));
        }
        let delay = match self {
            RetryDelay::VisibilityTimeout => None,
            RetryDelay::Fixed(delay) => Some(*delay),
            RetryDelay::Exponential { first, max } => {
                let count = message.receive_count().unwrap_or(1).max(1);
                let factor = 1u32 << (count - 1).min(20);
                Some(first.saturating_mul(factor).min(*max))
            }
            RetryDelay::Custom(delay) => delay(message),
        };
        delay.map(|d| d.min(MAX_VISIBILITY))
    }
}

impl fmt::Debug for RetryDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryDelay::VisibilityTimeout => f.write_str("VisibilityTimeout"),
            RetryDelay::Fixed(delay) => f.debug_tuple("Fixed").field(delay).finish(),
            RetryDelay::Exponential { first, max } => f
                .debug_struct("Exponential")
                .field("first", first)
                .field("max", max)
                .finish(),
            RetryDelay::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// A handler's error that says when its message should come back.
///
/// Return it (boxed, or through `?` into a [`HandlerError`]) to choose the delay of this
/// one failure; it wins over the consumer's [`retry_after`](super::ConsumerBuilder::retry_after)
/// and [`retry_backoff`](super::ConsumerBuilder::retry_backoff). The delay is capped at 12
/// hours, SQS's limit.
///
/// ```
/// use ecs_protect::sqs::{HandlerError, Message, RetryAfter};
/// use std::time::Duration;
///
/// fn handle(message: &Message) -> Result<(), HandlerError> {
///     if message.body().is_empty() {
///         // The upstream API is rate limited: try again in a minute.
///         return Err(RetryAfter::new(Duration::from_secs(60), "rate limited").into());
///     }
///     Ok(())
/// }
/// # assert!(handle(&Message::new("id", "rh", "")).is_err());
/// ```
#[derive(Debug)]
pub struct RetryAfter {
    delay: Duration,
    error: HandlerError,
}

impl RetryAfter {
    /// The failure `error`, to be retried after `delay`.
    pub fn new(delay: Duration, error: impl Into<HandlerError>) -> Self {
        RetryAfter {
            delay,
            error: error.into(),
        }
    }

    /// How long the message stays hidden before it is delivered again.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (retry in {:?})", self.error, self.delay)
    }
}

impl StdError for RetryAfter {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.error.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(count: u32) -> Message {
        Message::new("m", "rh", "").with_attribute("ApproximateReceiveCount", count.to_string())
    }

    #[test]
    fn exponential_doubles_with_the_receive_count_up_to_its_cap() {
        let policy = RetryDelay::Exponential {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let err: HandlerError = "x".into();
        let delays: Vec<_> = (1..=6)
            .map(|n| policy.delay(&failed(n), &err).unwrap().as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            policy.delay(&failed(500), &err),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn the_handlers_own_delay_wins_and_is_capped() {
        let err: HandlerError = RetryAfter::new(Duration::from_secs(7), "slow down").into();
        assert_eq!(
            RetryDelay::VisibilityTimeout.delay(&failed(1), &err),
            Some(Duration::from_secs(7))
        );
        assert_eq!(err.to_string(), "slow down (retry in 7s)");
        let long: HandlerError = RetryAfter::new(Duration::from_secs(99_999), "x").into();
        // SQS's limit: 12 hours.
        assert_eq!(
            RetryDelay::Fixed(Duration::ZERO).delay(&failed(1), &long),
            Some(Duration::from_secs(43_200))
        );
        let custom = RetryDelay::Custom(Arc::new(|m: &Message| {
            m.receive_count()
                .map(|n| Duration::from_secs(u64::from(n) * 3))
        }));
        let plain: HandlerError = "x".into();
        assert_eq!(
            custom.delay(&failed(2), &plain),
            Some(Duration::from_secs(6))
        );
    }

    #[test]
    fn a_retry_after_tells_its_delay_and_keeps_the_handlers_error_as_source() {
        let retry = RetryAfter::new(Duration::from_secs(7), "rate limited");
        assert_eq!(retry.delay(), Duration::from_secs(7));
        let source = StdError::source(&retry).expect("the handler's error");
        assert_eq!(source.to_string(), "rate limited");
    }

    #[test]
    fn debug_names_the_policy_and_its_durations() {
        let shown = |p: RetryDelay| format!("{p:?}");
        assert_eq!(shown(RetryDelay::VisibilityTimeout), "VisibilityTimeout");
        assert_eq!(
            shown(RetryDelay::Fixed(Duration::from_secs(2))),
            "Fixed(2s)"
        );
        assert_eq!(
            shown(RetryDelay::Exponential {
                first: Duration::from_secs(1),
                max: Duration::from_secs(60),
            }),
            "Exponential { first: 1s, max: 60s }"
        );
        assert_eq!(shown(RetryDelay::Custom(Arc::new(|_| None))), "Custom");
    }
}
