//! How long to wait before asking the backend again after a failed call.

use std::time::Duration;

use crate::{Config, Error};

/// The first transient back-off is about this long (half to all of it, with jitter).
pub(crate) const FIRST: Duration = Duration::from_secs(1);

/// The back-off after a failed call: `DEPLOYMENT_BLOCKED` and permanent refusals wait their
/// own fixed times; anything else (network, throttling, 5xx) waits exponentially longer with
/// each failure in a row (`streak`, 1 for the first), capped by `retry_after`, jittered down
/// to half so that a fleet does not retry in step.
pub(crate) fn after(config: &Config, err: &Error, streak: u32) -> Duration {
    if err.is_deployment_blocked() {
        config.blocked_retry_after()
    } else if err.is_permanent() {
        config.refused_retry_after()
    } else {
        transient(
            config.retry_after(),
            streak,
            crate::aws::retry::random_unit(),
        )
    }
}

/// `min(cap, FIRST * 2^(streak-1)) * (0.5 + unit / 2)`, `unit` in `[0, 1)`.
pub(crate) fn transient(cap: Duration, streak: u32, unit: f64) -> Duration {
    let factor = 2u32.saturating_pow(streak.saturating_sub(1).min(31));
    let ceiling = FIRST.saturating_mul(factor).min(cap);
    ceiling.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
}

/// Whether a failed call may have been applied all the same (its answer was lost): a
/// transport failure, an unreadable answer or a server error. A refusal, a throttle or a
/// credentials problem means the request was not applied.
pub(crate) fn outcome_unseen(err: &Error) -> bool {
    match err {
        Error::Transport { .. } | Error::Decode { .. } => true,
        Error::Api(api) => api.status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_about_a_second_up_to_the_cap() {
        let cap = Duration::from_secs(30);
        let top = |streak| transient(cap, streak, 0.999_999);
        let bottom = |streak| transient(cap, streak, 0.0);
        assert_eq!(bottom(1), Duration::from_millis(500));
        assert!(top(1) <= FIRST && top(1) > Duration::from_millis(999));
        assert_eq!(bottom(2), Duration::from_secs(1));
        assert_eq!(bottom(5), Duration::from_secs(8));
        assert_eq!(bottom(6), Duration::from_secs(15));
        assert_eq!(bottom(100), Duration::from_secs(15));
        assert!(top(100) <= cap);
        assert_eq!(transient(Duration::ZERO, 3, 0.5), Duration::ZERO);
        assert_eq!(
            transient(Duration::from_millis(100), 1, 0.0),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn refusals_keep_their_own_back_offs() {
        let config = Config::builder()
            .blocked_retry_after(Duration::from_secs(7))
            .refused_retry_after(Duration::from_secs(9))
            .build()
            .unwrap();
        let blocked = Error::TaskRefused {
            reason: crate::RefusalReason::DeploymentBlocked,
            detail: None,
            arn: None,
        };
        assert_eq!(after(&config, &blocked, 5), Duration::from_secs(7));
        let invalid = Error::TaskRefused {
            reason: crate::RefusalReason::TaskNotValid,
            detail: None,
            arn: None,
        };
        assert_eq!(after(&config, &invalid, 5), Duration::from_secs(9));
        let reset = Error::Transport {
            endpoint: "x".into(),
            timed_out: false,
            source: "reset".into(),
        };
        assert!(after(&config, &reset, 1) <= FIRST);
        assert!(outcome_unseen(&reset) && !outcome_unseen(&blocked));
    }

    fn api(status: u16, code: &str) -> Error {
        Error::from(crate::ApiError {
            operation: "UpdateTaskProtection".into(),
            endpoint: "https://ecs.eu-west-1.amazonaws.com/".into(),
            status,
            code: code.into(),
            message: None,
            request_id: None,
        })
    }

    #[test]
    fn a_server_error_may_have_been_applied_a_client_error_not() {
        assert!(outcome_unseen(&api(500, "ServerException")));
        assert!(outcome_unseen(&api(503, "ServiceUnavailable")));
        assert!(!outcome_unseen(&api(499, "Unknown")));
        assert!(!outcome_unseen(&api(400, "ThrottlingException")));
    }
}
