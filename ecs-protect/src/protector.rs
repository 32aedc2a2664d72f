//! [`Protector`] and [`Guard`]: reference-counted task protection.
//!
//! PLACEHOLDER: a naive implementation that fixes the public API while the real state
//! machine (single flight, linger, renewal, breathing window) is built.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Backend, Error, FailurePolicy, Protection};

/// Keeps the task protected while any [`Guard`] it handed out is alive.
///
/// Cheap to clone; clones share one state.
#[derive(Clone, Debug)]
pub struct Protector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Box<dyn Backend>,
    policy: FailurePolicy,
    in_flight: AtomicUsize,
    calls: Mutex<()>,
}

impl Protector {
    /// A protector on `backend` with default settings.
    pub fn with_backend(backend: impl Backend) -> Self {
        Protector {
            inner: Arc::new(Inner {
                backend: Box::new(backend),
                policy: FailurePolicy::Proceed,
                in_flight: AtomicUsize::new(0),
                calls: Mutex::new(()),
            }),
        }
    }

    /// Protects the task until the returned guard drops, applying the configured policy.
    ///
    /// # Errors
    ///
    /// With [`FailurePolicy::Require`], when protection could not be confirmed.
    pub fn acquire(&self) -> Result<Guard, Error> {
        self.acquire_with(self.inner.policy)
    }

    /// Like [`acquire`](Self::acquire), with `policy` instead of the configured one.
    /// With [`FailurePolicy::Proceed`] it never fails.
    ///
    /// # Errors
    ///
    /// With [`FailurePolicy::Require`], when protection could not be confirmed.
    pub fn acquire_with(&self, policy: FailurePolicy) -> Result<Guard, Error> {
        let _call = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Err(err) = self.inner.backend.set_protection(Protection::On {
                expires_in_minutes: 120,
            }) {
                if policy == FailurePolicy::Require {
                    self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
                    return Err(err);
                }
                log::warn!("proceeding without task protection: {err}");
            }
        }
        Ok(Guard {
            protector: self.clone(),
            protected: true,
        })
    }

    /// How many guards are alive.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    fn release(&self) {
        let _call = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Err(err) = self.inner.backend.set_protection(Protection::Off) {
                log::warn!("could not remove task protection: {err}");
            }
        }
    }
}

/// Proof that a unit of work is counted; dropping it releases the work's hold.
#[must_use = "protection is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct Guard {
    protector: Protector,
    protected: bool,
}

impl Guard {
    /// Whether protection was confirmed on when this guard was handed out.
    pub fn is_protected(&self) -> bool {
        self.protected
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.protector.release();
    }
}

impl AsRef<Protector> for Protector {
    fn as_ref(&self) -> &Protector {
        self
    }
}
