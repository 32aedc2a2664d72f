//! The credentials cache: refreshes before expiry, keeps valid credentials through an
//! outage of their source, and spaces out refresh attempts after a failure.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::{Credentials, ProvideCredentials};
use crate::Error;
use crate::aws::time::Skew;

/// The refresh windows of credentials living an hour or more: refresh by one caller
/// (the others keep the valid ones) within 15 minutes of expiry, by every caller waiting
/// within 10 minutes (botocore's advisory and mandatory refresh).
pub(crate) const ADVISORY_REFRESH: Duration = Duration::from_secs(15 * 60);
/// See [`ADVISORY_REFRESH`].
pub(crate) const MANDATORY_REFRESH: Duration = Duration::from_secs(10 * 60);
/// Credentials this close to expiry (on the server's clock) are not signed with; an eighth
/// of the lifetime for credentials living less than two minutes.
pub(crate) const EXPIRY_MARGIN: Duration = Duration::from_secs(15);

/// The clock a cache reads; replaced in tests.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// What to do with the cached credentials at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freshness {
    /// Far from expiry: use them.
    Fresh,
    /// In the advisory window: one caller refreshes, the others use them.
    Advisory,
    /// In the mandatory window: callers wait for one refresh, but a failed refresh keeps
    /// them (they are still valid).
    Mandatory,
    /// Nothing cached, or expired: a refresh must succeed.
    Unusable,
}

/// Cached credentials and when they were fetched (on the server's clock).
#[derive(Clone)]
struct Entry {
    credentials: Credentials,
    fetched_at: SystemTime,
}

/// The last refresh that failed: when the next one may start, and why it failed.
#[derive(Clone)]
struct Failed {
    retry_at: SystemTime,
    message: String,
}

#[derive(Default)]
struct State {
    entry: Option<Entry>,
    failed: Option<Failed>,
    /// Counts finished fetches, so that a caller that waited for another's fetch knows one
    /// happened meanwhile.
    fetches: u64,
}

/// Caches credentials and refreshes them before they expire, as the SDKs do.
///
/// - The refresh windows scale with the credentials' lifetime: 15 and 10 minutes before
///   expiry for an hour or more, a half and a third of the lifetime for shorter ones (so
///   15-minute credentials are not re-fetched on every call). Within 15 s of expiry (an
///   eighth of the lifetime for short-lived ones) they are no longer used.
/// - Advisory window: one caller refreshes, the others keep using the cached credentials.
/// - Mandatory window: callers wait for one refresh.
/// - A failed refresh while the cached credentials are still valid keeps them, logs a
///   warning and waits before trying again ([`retry_spacing`]); only when nothing valid is
///   left does a caller get the error, and callers that waited on the failed fetch get its
///   error at once instead of fetching again one after another.
/// - Expiry is judged on the server's clock (the learnt skew is applied).
pub(crate) struct CachingProvider {
    inner: Arc<dyn ProvideCredentials>,
    state: Mutex<State>,
    /// Held by the one caller that is fetching.
    refresh: Mutex<()>,
    clock: Clock,
}

impl fmt::Debug for CachingProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingProvider")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The advisory and mandatory windows of credentials valid for `lifetime`.
pub(crate) fn refresh_windows(lifetime: Duration) -> (Duration, Duration) {
    (
        ADVISORY_REFRESH.min(lifetime / 2),
        MANDATORY_REFRESH.min(lifetime / 3),
    )
}

/// How close to expiry credentials valid for `lifetime` stop being used.
pub(crate) fn expiry_margin(lifetime: Duration) -> Duration {
    EXPIRY_MARGIN.min(lifetime / 8)
}

/// How long to wait after a failed refresh when `left` remains before expiry: a tenth of
/// it, between 5 s and 60 s.
pub(crate) fn retry_spacing(left: Duration) -> Duration {
    (left / 10).clamp(Duration::from_secs(5), Duration::from_secs(60))
}

impl CachingProvider {
    /// A cache over `inner`, on the system clock.
    pub(crate) fn new(inner: Arc<dyn ProvideCredentials>) -> Self {
        CachingProvider::with_clock(inner, Arc::new(SystemTime::now))
    }

    /// A cache over `inner` reading `clock`.
    pub(crate) fn with_clock(inner: Arc<dyn ProvideCredentials>, clock: Clock) -> Self {
        CachingProvider {
            inner,
            state: Mutex::new(State::default()),
            refresh: Mutex::new(()),
            clock,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Time left before the entry expires at `now`; `None` for credentials that do not.
    fn left(entry: &Entry, now: SystemTime) -> Option<Duration> {
        let expires_at = entry.credentials.expires_at()?;
        Some(expires_at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    fn freshness(entry: Option<&Entry>, now: SystemTime) -> Freshness {
        let Some(entry) = entry else {
            return Freshness::Unusable;
        };
        let Some(left) = Self::left(entry, now) else {
            return Freshness::Fresh;
        };
        let lifetime = entry
            .credentials
            .expires_at()
            .and_then(|e| e.duration_since(entry.fetched_at).ok())
            .unwrap_or(Duration::ZERO);
        let (advisory, mandatory) = refresh_windows(lifetime);
        if left <= expiry_margin(lifetime) {
            Freshness::Unusable
        } else if left > advisory {
            Freshness::Fresh
        } else if left > mandatory {
            Freshness::Advisory
        } else {
            Freshness::Mandatory
        }
    }

    /// Credentials valid for the next few seconds at least, on the system clock.
    ///
    /// # Errors
    ///
    /// As [`credentials_with_skew`](Self::credentials_with_skew).
    #[cfg(test)]
    pub(crate) fn credentials(&self) -> Result<Credentials, Error> {
        self.credentials_with_skew(Skew::default())
    }

    /// Credentials valid for the next few seconds at least, expiry judged on our clock
    /// corrected by `skew` (the server's clock).
    ///
    /// # Errors
    ///
    /// The provider's error when nothing valid is cached and fetching fails; within
    /// [`retry_spacing`] of that failure, an [`Error::Credentials`] repeating it.
    pub(crate) fn credentials_with_skew(&self, skew: Skew) -> Result<Credentials, Error> {
        let now = skew.apply((self.clock)());
        let (entry, failed, seen) = {
            let state = self.state();
            (state.entry.clone(), state.failed.clone(), state.fetches)
        };
        let freshness = Self::freshness(entry.as_ref(), now);
        let spaced = failed.as_ref().is_some_and(|f| now < f.retry_at);
        match (freshness, entry) {
            (Freshness::Fresh, Some(entry)) => Ok(entry.credentials),
            (Freshness::Advisory | Freshness::Mandatory, Some(entry)) if spaced => {
                Ok(entry.credentials)
            }
            (Freshness::Advisory, Some(entry)) => {
                // Only one caller refreshes; the others keep the still-valid credentials.
                let Ok(_refreshing) = self.refresh.try_lock() else {
                    return Ok(entry.credentials);
                };
                self.refresh_locked(skew, seen)
            }
            (Freshness::Mandatory, Some(_)) => {
                let _refreshing = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
                self.refresh_locked(skew, seen)
            }
            _ if spaced => Err(repeat(failed.as_ref())),
            _ => {
                let _refreshing = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
                self.refresh_locked(skew, seen)
            }
        }
    }

    /// Fetches unless another caller did while this one waited (`seen` is the fetch count
    /// it saw); keeps valid credentials when the fetch fails. Called with `refresh` held.
    fn refresh_locked(&self, skew: Skew, seen: u64) -> Result<Credentials, Error> {
        let now = skew.apply((self.clock)());
        {
            let state = self.state();
            if state.fetches != seen {
                // Another caller fetched while this one waited: use its outcome.
                match (Self::freshness(state.entry.as_ref(), now), &state.entry) {
                    (Freshness::Unusable, _) | (_, None) if state.failed.is_some() => {
                        return Err(repeat(state.failed.as_ref()));
                    }
                    (Freshness::Unusable, _) | (_, None) => {}
                    (_, Some(entry)) => return Ok(entry.credentials.clone()),
                }
            }
        }
        let result = self.inner.fetch();
        let now = skew.apply((self.clock)());
        let mut state = self.state();
        state.fetches += 1;
        match result {
            Ok(fresh) => {
                state.entry = Some(Entry {
                    credentials: fresh.clone(),
                    fetched_at: now,
                });
                state.failed = None;
                Ok(fresh)
            }
            Err(err) => {
                let usable = state
                    .entry
                    .as_ref()
                    .filter(|e| Self::freshness(Some(e), now) != Freshness::Unusable)
                    .cloned();
                let left = usable
                    .as_ref()
                    .and_then(|e| Self::left(e, now))
                    .unwrap_or(Duration::ZERO);
                let spacing = retry_spacing(left);
                state.failed = Some(Failed {
                    retry_at: now + spacing,
                    message: err.to_string(),
                });
                match usable {
                    Some(entry) => {
                        log::warn!(
                            target: "ecs_protect::aws",
                            "refreshing AWS credentials failed; using the current ones \
                             ({} s before they expire), next attempt in {} s: {err}",
                            left.as_secs(),
                            spacing.as_secs()
                        );
                        Ok(entry.credentials)
                    }
                    None => Err(err),
                }
            }
        }
    }

    /// Drops `used` from the cache (the service answered that they expired), so that the
    /// next call fetches fresh ones at once. Credentials cached since are kept.
    pub(crate) fn invalidate(&self, used: &Credentials) {
        let mut state = self.state();
        if state.entry.as_ref().is_some_and(|e| &e.credentials == used) {
            state.entry = None;
            state.failed = None;
        }
    }
}

/// The error returned while refresh attempts are spaced out after a failure.
fn repeat(failed: Option<&Failed>) -> Error {
    Error::Credentials {
        origin: "the credentials cache".to_owned(),
        message: match failed {
            Some(failed) => format!(
                "no valid credentials; the last refresh failed, retrying shortly: {}",
                failed.message
            ),
            None => "no valid credentials".to_owned(),
        },
        source: None,
    }
}
