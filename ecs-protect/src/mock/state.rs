//! What the fake AWS remembers: the calls it answered, the protection timeline, the
//! credentials it issued and the faults queued for the next calls.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::{Protection, RefusalReason};

/// The endpoint or operation a call to [`MockAws`](super::MockAws) was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /` with `X-Amz-Target: AmazonEC2ContainerServiceV20141113.UpdateTaskProtection`.
    UpdateTaskProtection,
    /// `POST /` with `X-Amz-Target: AmazonEC2ContainerServiceV20141113.GetTaskProtection`.
    GetTaskProtection,
    /// `PUT $ECS_AGENT_URI/task-protection/v1/state` (the agent endpoint).
    AgentUpdateTaskProtection,
    /// `GET $ECS_AGENT_URI/task-protection/v1/state` (the agent endpoint).
    AgentGetTaskProtection,
    /// `GET $ECS_CONTAINER_METADATA_URI_V4/task`.
    TaskMetadata,
    /// `GET` of the container credentials endpoint.
    Credentials,
    /// `POST /` with an `X-Amz-Target: AmazonSQS.*` (feature `sqs`): a queue of
    /// [`MockAws::create_queue`](super::MockAws::create_queue).
    Sqs,
    /// Anything else (answered 404 or 405, or a `POST /` with an unknown target).
    Other,
}

impl Operation {
    /// The name used in logs and summaries, e.g. `UpdateTaskProtection`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::UpdateTaskProtection => "UpdateTaskProtection",
            Operation::GetTaskProtection => "GetTaskProtection",
            Operation::AgentUpdateTaskProtection => "agent PUT task-protection",
            Operation::AgentGetTaskProtection => "agent GET task-protection",
            Operation::TaskMetadata => "task metadata",
            Operation::Credentials => "credentials",
            Operation::Sqs => "SQS",
            Operation::Other => "other",
        }
    }

    /// Whether this operation reaches ECS (the signed API or the agent endpoint), as
    /// opposed to the local metadata and credentials endpoints.
    pub fn is_ecs(&self) -> bool {
        matches!(
            self,
            Operation::UpdateTaskProtection
                | Operation::GetTaskProtection
                | Operation::AgentUpdateTaskProtection
                | Operation::AgentGetTaskProtection
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the fake answered a call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Answered with success (HTTP 200, no per-task failure).
    Accepted,
    /// HTTP 200 with a per-task failure (`TASK_NOT_VALID`, `DEPLOYMENT_BLOCKED`, ...).
    Refused(RefusalReason),
    /// An error answer.
    Error {
        /// The HTTP status.
        status: u16,
        /// The error code, e.g. `InvalidSignatureException`.
        code: String,
    },
}

impl Outcome {
    /// The error code, when the call was answered with an error.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Outcome::Error { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One call the fake AWS answered: ECS API, agent, metadata, credentials or SQS.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AwsCall {
    /// When the fake began handling it.
    pub at: Instant,
    /// The fake's clock at that moment (real time plus the configured skew).
    pub time: SystemTime,
    /// What it was for.
    pub operation: Operation,
    /// The method and path, e.g. `POST /`.
    pub request_line: String,
    /// The change asked for, for the update operations whose body was valid.
    pub change: Option<Protection>,
    /// The access key id that signed it (signed API calls that got that far).
    pub access_key_id: Option<String>,
    /// How it was answered.
    pub outcome: Outcome,
}

/// How a protected span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanEnd {
    /// A call disabled protection.
    Disabled,
    /// The protection lapsed at its expiry.
    Expired,
    /// Still protected; `end` is the scheduled expiry.
    Ongoing,
}

/// An interval during which the task was protected, as ECS saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtectedSpan {
    /// When the enabling call was applied.
    pub start: Instant,
    /// When it stopped being protected (or, when [`SpanEnd::Ongoing`], when it will).
    pub end: Instant,
    /// How it ended.
    pub ended: SpanEnd,
}

impl ProtectedSpan {
    /// How long it lasted (so far, scheduled, for an ongoing span).
    pub fn duration(&self) -> Duration {
        self.end.saturating_duration_since(self.start)
    }
}

/// A change of protection applied by the fake.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    /// Enabled (or renewed) at `at`, until `until` (also as the fake's clock, `until_time`).
    Enabled {
        at: Instant,
        until: Instant,
        until_time: SystemTime,
    },
    /// Disabled at `at`.
    Disabled { at: Instant },
}

impl Event {
    fn at(&self) -> Instant {
        match self {
            Event::Enabled { at, .. } | Event::Disabled { at } => *at,
        }
    }
}

/// The protection timeline: applied changes in order.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    events: Vec<Event>,
}

impl Timeline {
    pub(crate) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The expiry in force at `instant`, if protected then.
    pub(crate) fn protection_at(&self, instant: Instant) -> Option<(Instant, SystemTime)> {
        let last = self.events.iter().rev().find(|e| e.at() <= instant)?;
        match *last {
            Event::Enabled {
                until, until_time, ..
            } if until > instant => Some((until, until_time)),
            _ => None,
        }
    }

    /// The protected spans, merged across renewals, as of `now`.
    pub(crate) fn spans(&self, now: Instant) -> Vec<ProtectedSpan> {
        let mut spans = Vec::new();
        // The open span: start and current expiry.
        let mut open: Option<(Instant, Instant)> = None;
        for event in &self.events {
            match *event {
                Event::Enabled { at, until, .. } => {
                    open = match open {
                        Some((start, expiry)) if expiry > at => Some((start, until)),
                        Some((start, expiry)) => {
                            spans.push(span(start, expiry, SpanEnd::Expired));
                            Some((at, until))
                        }
                        None => Some((at, until)),
                    };
                }
                Event::Disabled { at } => {
                    if let Some((start, expiry)) = open.take() {
                        if expiry > at {
                            spans.push(span(start, at, SpanEnd::Disabled));
                        } else {
                            spans.push(span(start, expiry, SpanEnd::Expired));
                        }
                    }
                }
            }
        }
        if let Some((start, expiry)) = open {
            let ended = if expiry > now {
                SpanEnd::Ongoing
            } else {
                SpanEnd::Expired
            };
            spans.push(span(start, expiry, ended));
        }
        spans
    }
}

fn span(start: Instant, end: Instant, ended: SpanEnd) -> ProtectedSpan {
    ProtectedSpan { start, end, ended }
}

/// Credentials the fake issued (or was given), with their validity.
#[derive(Clone)]
pub(crate) struct IssuedKey {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
    /// `None`: never expires (static credentials).
    pub(crate) expiration: Option<SystemTime>,
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// Faults queued for the next calls.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) throttle: u32,
    pub(crate) fail: u32,
    pub(crate) refuse: Vec<RefusalReason>,
    pub(crate) refuse_all: Option<RefusalReason>,
    pub(crate) fail_credentials: u32,
    pub(crate) latency: Duration,
}

/// Which fault, if any, an ECS operation gets.
pub(crate) enum Fault {
    Throttle,
    Fail,
}

impl Faults {
    /// Takes the next throttle or 5xx fault for an ECS operation.
    pub(crate) fn take_error(&mut self) -> Option<Fault> {
        if self.throttle > 0 {
            self.throttle -= 1;
            return Some(Fault::Throttle);
        }
        if self.fail > 0 {
            self.fail -= 1;
            return Some(Fault::Fail);
        }
        None
    }

    /// Takes the refusal for an update; `DEPLOYMENT_BLOCKED` only refuses enabling (a
    /// disable is never blocked and does not use a queued one up).
    pub(crate) fn take_refusal(&mut self, enabling: bool) -> Option<RefusalReason> {
        let applies =
            |r: &RefusalReason| enabling || !matches!(r, RefusalReason::DeploymentBlocked);
        if let Some(i) = self.refuse.iter().position(applies) {
            return Some(self.refuse.remove(i));
        }
        self.refuse_all.clone().filter(applies)
    }
}

/// Everything that changes while the fake runs.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) calls: Vec<AwsCall>,
    pub(crate) timeline: Timeline,
    pub(crate) keys: Vec<IssuedKey>,
    pub(crate) last_issue: Option<Instant>,
    pub(crate) rotate_now: bool,
    pub(crate) issued: u64,
    pub(crate) faults: Faults,
    pub(crate) skew_secs: i64,
    pub(crate) request_ids: u64,
    /// The SQS queues by URL (feature `sqs`).
    #[cfg(feature = "sqs")]
    pub(crate) queues: std::collections::BTreeMap<String, super::MemoryQueue>,
}

impl State {
    /// A fresh request id in the UUID shape AWS uses.
    pub(crate) fn next_request_id(&mut self) -> String {
        self.request_ids += 1;
        format!("0e5b2c7a-4d1f-4c3e-9a6b-{:012x}", self.request_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled(at: Instant, until: Instant) -> Event {
        Event::Enabled {
            at,
            until,
            until_time: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn timeline_answers_instants_and_merges_renewals() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut timeline = Timeline::default();
        timeline.push(enabled(s(10), s(70)));
        timeline.push(enabled(s(50), s(110))); // renewal
        timeline.push(Event::Disabled { at: s(100) });
        timeline.push(enabled(s(200), s(260))); // lapses at 260
        timeline.push(enabled(s(300), s(360))); // ongoing at 320
        assert!(timeline.protection_at(s(5)).is_none());
        assert!(timeline.protection_at(s(10)).is_some());
        assert!(timeline.protection_at(s(69)).is_some());
        assert!(timeline.protection_at(s(99)).is_some());
        assert!(timeline.protection_at(s(100)).is_none());
        assert!(timeline.protection_at(s(259)).is_some());
        assert!(timeline.protection_at(s(260)).is_none());
        assert!(timeline.protection_at(s(280)).is_none());
        assert_eq!(
            timeline.spans(s(320)),
            vec![
                span(s(10), s(100), SpanEnd::Disabled),
                span(s(200), s(260), SpanEnd::Expired),
                span(s(300), s(360), SpanEnd::Ongoing),
            ]
        );
        assert_eq!(timeline.spans(s(400))[2].ended, SpanEnd::Expired);
    }

    #[test]
    fn refusals_apply_in_order_and_blocked_spares_disables() {
        let mut faults = Faults {
            refuse: vec![
                RefusalReason::DeploymentBlocked,
                RefusalReason::TaskNotValid,
            ],
            ..Faults::default()
        };
        assert_eq!(
            faults.take_refusal(false),
            Some(RefusalReason::TaskNotValid)
        );
        assert_eq!(
            faults.take_refusal(true),
            Some(RefusalReason::DeploymentBlocked)
        );
        assert_eq!(faults.take_refusal(true), None);
        faults.refuse_all = Some(RefusalReason::DeploymentBlocked);
        assert_eq!(faults.take_refusal(false), None);
        assert_eq!(
            faults.take_refusal(true),
            Some(RefusalReason::DeploymentBlocked)
        );
    }
}
