//! The report `ecs-protect check` prints, and its JSON form.

use serde_json::{Value, json};

/// A value and where it came from (`AWS_REGION`, `the task ARN`, `default`, `set`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sourced {
    /// The value, as shown to the user.
    pub value: String,
    /// Where it came from.
    pub source: String,
}

/// The credentials the chain picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialFacts {
    /// The provider and its input: `the container endpoint http://...`, `profile dev in
    /// /home/me/.aws/config (credential_process)`.
    pub provider: String,
    /// The access key id with all but its last 4 characters hidden.
    pub access_key_id: String,
    /// When they expire (RFC 3339), if they do.
    pub expires_at: Option<String>,
}

/// One `ECS_PROTECT_*` setting: its effective value and whether it was `set` or `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The variable.
    pub name: &'static str,
    /// The effective value.
    pub value: String,
    /// `set` or `default`.
    pub source: &'static str,
}

/// The task's protection as the read-only call returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionFacts {
    /// The call that proved it: `ecs:GetTaskProtection` or `GET <agent endpoint>`.
    pub call: String,
    /// Whether the task is protected.
    pub enabled: bool,
    /// When protection ends (RFC 3339), if on.
    pub expires_at: Option<String>,
}

/// The queue's attributes from `GetQueueAttributes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueFacts {
    /// The queue URL and where it came from (`QUEUE_URL` or `--queue`).
    pub url: Sourced,
    /// `VisibilityTimeout`, in seconds, when the call succeeded.
    pub visibility_timeout_secs: Option<u64>,
    /// `RedrivePolicy` (a JSON text), when the queue has one.
    pub redrive_policy: Option<String>,
}

/// Everything `ecs-protect check` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `api`, `agent` or `off`, and why.
    pub backend: Option<Sourced>,
    /// The task ARN, from the task metadata endpoint.
    pub task_arn: Option<String>,
    /// The cluster, from the task metadata endpoint.
    pub cluster: Option<String>,
    /// The signing region and its source.
    pub region: Option<Sourced>,
    /// The ECS endpoint and its source.
    pub ecs_endpoint: Option<Sourced>,
    /// The proxy ECS calls go through (`host:port`) and its variable; `None`: direct.
    pub proxy: Option<Sourced>,
    /// The credentials the chain picked (not looked for with the agent backend and no queue).
    pub credentials: Option<CredentialFacts>,
    /// `ECS_PROTECT_SHARED_DIR`'s state.
    pub shared_dir: Sourced,
    /// Every `ECS_PROTECT_*` setting.
    pub settings: Vec<Setting>,
    /// The task's current protection, when the read-only call succeeded.
    pub protection: Option<ProtectionFacts>,
    /// The queue, with `QUEUE_URL` or `--queue`.
    pub queue: Option<QueueFacts>,
    /// Things worth knowing that do not fail the check.
    pub warnings: Vec<String>,
    /// One line per problem, each naming the variable or permission to fix.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON (what `--json` prints).
    pub fn to_json(&self) -> Value {
        let sourced = |s: &Option<Sourced>| match s {
            Some(s) => json!({ "value": s.value, "source": s.source }),
            None => Value::Null,
        };
        json!({
            "ok": self.ok(),
            "backend": sourced(&self.backend),
            "task_arn": self.task_arn,
            "cluster": self.cluster,
            "region": sourced(&self.region),
            "ecs_endpoint": sourced(&self.ecs_endpoint),
            "proxy": sourced(&self.proxy),
            "credentials": self.credentials.as_ref().map(|c| json!({
                "provider": c.provider,
                "access_key_id": c.access_key_id,
                "expires_at": c.expires_at,
            })),
            "shared_dir": { "value": self.shared_dir.value, "source": self.shared_dir.source },
            "settings": self.settings.iter().map(|s| json!({
                "name": s.name, "value": s.value, "source": s.source,
            })).collect::<Vec<_>>(),
            "protection": self.protection.as_ref().map(|p| json!({
                "call": p.call, "enabled": p.enabled, "expires_at": p.expires_at,
            })),
            "queue": self.queue.as_ref().map(|q| json!({
                "url": q.url.value,
                "source": q.url.source,
                "visibility_timeout_secs": q.visibility_timeout_secs,
                "redrive_policy": q.redrive_policy,
            })),
            "warnings": self.warnings,
            "problems": self.problems,
        })
    }
}

/// `access_key_id` with all but its last 4 characters replaced by `*`.
pub fn mask_key_id(access_key_id: &str) -> String {
    let chars: Vec<char> = access_key_id.chars().collect();
    let shown = chars.len().saturating_sub(4);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < shown { '*' } else { *c })
        .collect()
}
