//! Strict lint levels see nothing in the expansion: every diagnostic a user gets is about
//! their own code.
#![deny(
    warnings,
    unsafe_code,
    unused_qualifications,
    unused_results,
    single_use_lifetimes,
    unused_lifetimes,
    let_underscore_drop,
    elided_lifetimes_in_paths,
    unit_bindings,
    unreachable_pub,
    missing_docs,
    trivial_casts,
    redundant_lifetimes
)]

use ecs_protect::{Error, Protector, protected};
use std::sync::Arc;

/// A worker.
#[derive(Debug)]
pub struct Worker {
    protector: Arc<Protector>,
}

impl Worker {
    /// Plain, with a protector expression.
    #[protected(protector = self.protector)]
    pub fn plain(&self) -> u32 {
        1
    }

    /// Required, with a protector expression.
    #[protected(required, protector = self.protector)]
    pub fn required(&self, text: &str) -> Result<usize, Error> {
        if text.is_empty() {
            return Ok(0);
        }
        Ok(text.len())
    }
}

/// Default protector, no return value.
#[protected]
pub fn default_protector() {}

fn main() {
    let worker = Worker {
        protector: Arc::new(Protector::with_backend(ecs_protect::Disabled)),
    };
    assert_eq!(worker.plain(), 1);
    assert_eq!(worker.required("abc").ok(), Some(3));
    default_protector();
}
