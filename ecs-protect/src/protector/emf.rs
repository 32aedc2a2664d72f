//! CloudWatch Embedded Metric Format: one JSON line per state change, on stdout by default.
//!
//! CloudWatch Logs turns each line into metrics (`Protected`, `InFlight`, `CallLatency`,
//! dimension `Backend`), so a fleet's "protected tasks" gauge costs no API call.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

/// A state change worth a metric line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Enabled,
    Renewed,
    Disabled,
    Failed,
    Expired,
    Window,
    HardCap,
    Overrun,
    Shutdown,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Enabled => "enabled",
            Event::Renewed => "renewed",
            Event::Disabled => "disabled",
            Event::Failed => "failed",
            Event::Expired => "expired",
            Event::Window => "window",
            Event::HardCap => "hard_cap",
            Event::Overrun => "overrun",
            Event::Shutdown => "shutdown",
        }
    }
}

/// Where the lines go: stdout, or a test's buffer.
pub(crate) type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Writes EMF lines for one protector.
pub(crate) struct Emf {
    namespace: String,
    sink: Sink,
}

impl fmt::Debug for Emf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emf")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Emf {
    /// Lines on stdout, where the awslogs/FireLens log driver picks them up.
    pub(crate) fn stdout(namespace: &str) -> Self {
        Emf::with_sink(
            namespace,
            Arc::new(|line: &str| {
                // One write of the whole line under stdout's lock, so lines never interleave.
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(format!("{line}\n").as_bytes());
                let _ = out.flush();
            }),
        )
    }

    pub(crate) fn with_sink(namespace: &str, sink: Sink) -> Self {
        Emf {
            namespace: namespace.to_owned(),
            sink,
        }
    }

    pub(crate) fn emit(
        &self,
        event: Event,
        backend: &str,
        protected: bool,
        in_flight: usize,
        latency: Option<Duration>,
    ) {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        (self.sink)(&line(
            &self.namespace,
            millis,
            event,
            backend,
            protected,
            in_flight,
            latency,
        ));
    }
}

fn line(
    namespace: &str,
    millis: u64,
    event: Event,
    backend: &str,
    protected: bool,
    in_flight: usize,
    latency: Option<Duration>,
) -> String {
    let mut metrics = vec![
        json!({"Name": "Protected", "Unit": "Count"}),
        json!({"Name": "InFlight", "Unit": "Count"}),
    ];
    let mut value = json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [],
        },
        "Backend": backend,
        "Event": event.as_str(),
        "Protected": u8::from(protected),
        "InFlight": in_flight,
    });
    if let Some(latency) = latency {
        metrics.push(json!({"Name": "CallLatency", "Unit": "Milliseconds"}));
        value["CallLatency"] = json!(latency.as_secs_f64() * 1000.0);
    }
    value["_aws"]["CloudWatchMetrics"] = json!([{
        "Namespace": namespace,
        "Dimensions": [["Backend"]],
        "Metrics": metrics,
    }]);
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_line_is_one_emf_object() {
        let text = line(
            "ECSProtect",
            1_700_000_000_123,
            Event::Enabled,
            "ecs-api",
            true,
            3,
            Some(Duration::from_millis(42)),
        );
        assert!(!text.contains('\n'));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ECSProtect");
        assert_eq!(directive["Dimensions"], json!([["Backend"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Protected", "InFlight", "CallLatency"]);
        // Every metric and dimension named in the directive is a member of the object.
        for name in names.iter().chain(["Backend"].iter()) {
            assert!(!v[name].is_null(), "{name} missing");
        }
        assert_eq!(v["Protected"], 1);
        assert_eq!(v["InFlight"], 3);
        assert_eq!(v["CallLatency"], 42.0);
        assert_eq!(v["Event"], "enabled");
    }

    #[test]
    fn no_latency_no_latency_metric() {
        let v: Value =
            serde_json::from_str(&line("N", 0, Event::Shutdown, "off", false, 0, None)).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(v.get("CallLatency").is_none());
        assert_eq!(v["Protected"], 0);
    }
}
