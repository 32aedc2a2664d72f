//! Where settings are read from: the process environment, or a fixed set of variables.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A source of environment variables: the process environment, or a fixed map.
///
/// Every setting this crate reads (AWS variables, `ECS_PROTECT_*`) goes through an `Env`,
/// so tests and the fake AWS can configure a protector without touching the process
/// environment (which edition 2024 makes `unsafe` to change).
///
/// An empty value counts as unset, as in the AWS SDKs.
///
/// ```
/// use ecs_protect::Env;
///
/// let env = Env::from_vars([("AWS_REGION", "eu-west-1"), ("AWS_PROFILE", "")]);
/// assert_eq!(env.get("AWS_REGION").as_deref(), Some("eu-west-1"));
/// assert_eq!(env.get("AWS_PROFILE"), None);
/// assert_eq!(env.get("AWS_DEFAULT_REGION"), None);
/// ```
#[derive(Clone, Default)]
pub struct Env {
    /// `None` reads the process environment at each lookup.
    vars: Option<Arc<BTreeMap<String, String>>>,
}

impl Env {
    /// The process environment, read at each lookup.
    pub fn process() -> Self {
        Env { vars: None }
    }

    /// A fixed set of variables; the process environment is not consulted.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Env {
            vars: Some(Arc::new(map)),
        }
    }

    /// The value of `name`; `None` when it is unset, empty, or not valid Unicode.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match &self.vars {
            None => std::env::var(name).ok(),
            Some(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    /// Lists variable names only: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.vars {
            None => f.write_str("Env::process()"),
            Some(map) => f.debug_set().entries(map.keys()).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let env = Env::from_vars([("AWS_SECRET_ACCESS_KEY", "hunter2")]);
        let shown = format!("{env:?}");
        assert!(
            shown.contains("AWS_SECRET_ACCESS_KEY") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
