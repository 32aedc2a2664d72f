//! Amazon ECS task scale-in protection for thread-based workers.
//!
//! A worker that ECS stops while it handles a message loses that message. With
//! `#[protected]`, the task is protected (ECS will not stop it for a deployment or a
//! scale-in) while the function runs, and released on every exit path:
//!
//! ```
//! use ecs_protect::protected;
//!
//! #[protected] // waits until protection is confirmed on; released on return, `?` and panic
//! fn handle(order: &str) -> Result<(), std::io::Error> {
//!     println!("charging {order}");
//!     Ok(())
//! }
//!
//! handle("order-1")?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The crate is blocking by design: handlers run on plain threads, no async runtime is
//! needed, and the default dependency tree stays small. `async fn` is rejected at compile
//! time, because acquiring protection blocks.
//!
//! # How it works
//!
//! `#[protected]` takes a [`Guard`] from the process-wide default [`Protector`]
//! ([`global`]), built from the environment on first use with the AWS SDKs' variables:
//! on ECS (`ECS_CONTAINER_METADATA_URI_V4` set) it calls the ECS API
//! (`UpdateTaskProtection`, SigV4-signed, with the task role's credentials); elsewhere it
//! runs in local mode, counting work and calling nothing. The protector is reference
//! counted across threads, makes one enable call however many handlers start at once,
//! lingers a few seconds after the last one ends so a steady stream costs a handful of
//! calls, renews protection before it expires, and opens a short breathing window after
//! `max_hold` of continuous protection so a deployment can stop a busy task. See
//! [`Protector`] for the details and [`Config`] for every setting and variable.
//!
//! # Shutting down
//!
//! ```no_run
//! use ecs_protect::Shutdown;
//! use std::time::Duration;
//!
//! let shutdown = Shutdown::install()?; // SIGTERM/SIGINT set a flag; a second SIGINT exits
//! while !shutdown.requested() {
//!     // receive a message and hand it to a #[protected] handler
//! #   break;
//! }
//! // Work in flight has finished: release protection now rather than after the linger.
//! let drained = ecs_protect::global().drain(Duration::from_secs(30));
//! println!("{drained}"); // "drained", or how many units were still in flight
//! # Ok::<(), ecs_protect::Error>(())
//! ```
//!
//! After SIGTERM ECS has already decided to stop the task: no new protection is
//! requested, and [`Protector::drain`] waits for the work in flight, then releases.
//!
//! # Backends
//!
//! `ECS_PROTECT_BACKEND` picks one: `api` (the signed ECS API, the default on ECS),
//! `agent` (the ECS agent's local endpoint, `$ECS_AGENT_URI`; unsigned, the agent calls
//! ECS with the task role), or `off`. Any type implementing [`Backend`] works with
//! [`Protector::with_backend`].
//!
//! # Testing workers
//!
//! The `mock` feature brings `mock::MockAws`, an in-process fake AWS that serves task
//! metadata, container credentials, the ECS API (verifying every SigV4 signature), the
//! agent endpoint and (with `sqs`) SQS queues on 127.0.0.1, records the protection timeline
//! and injects faults; and
//! `mock::RecordingBackend`, an in-memory backend for unit tests.
//!
//! # Features
//!
//! - `mock`: the fakes above (adds `tiny_http`).
//! - `sqs`: `sqs::Consumer`, a blocking SQS consumer that handles each message under
//!   protection and stops cleanly on SIGTERM (adds no crate).
//! - `cli`: the `ecs-protect` command, `ecs-protect run [--required] -- CMD ARGS...`, which
//!   keeps the task protected while any program runs (adds `rustix` to the command only).
//!
//! # Several processes, one task
//!
//! Without `ECS_PROTECT_SHARED_DIR` protection is per process: the first process of a task
//! to go idle disables it under another one's work. With it set to a directory every
//! process of the task sees, they share one protection through [`SharedBackend`].
//!
//! # Log levels
//!
//! Everything goes through the `log` facade. `info`: protection enabled, renewed and
//! removed, with expiry and call latency; local mode, once. `warn`: work run unprotected,
//! `DEPLOYMENT_BLOCKED`, a failed disable. `error`: an invalid configuration, the hard cap
//! reached. This crate never logs a secret at any level: credentials, session tokens and
//! authorization tokens are redacted everywhere, including `Debug`.
//!
//! The HTTP client underneath, `ureq`, dumps the raw wire at `TRACE` (target
//! `ureq_proto::util`) as hex rows: no line's text holds a secret, but decoded they include
//! the credentials endpoint's answer (secret key, session token), the `Authorization`
//! header and the container authorization token. NOT
//! REDACTED: keep ureq's targets below `TRACE` in production (for example
//! `RUST_LOG=info,ureq=warn,ureq_proto=warn`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod agent;
mod aws;
mod backend;
mod config;
mod env;
mod error;
mod global;
mod protector;
mod shared;
mod shutdown;

#[cfg(test)]
mod proptests;

#[cfg(feature = "mock")]
pub mod mock;

#[cfg(feature = "sqs")]
pub mod sqs;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub mod unversioned;

/// Keeps the task protected from ECS scale-in while the function runs.
///
/// Protection is acquired from a [`Protector`] before the body runs (waiting until ECS has
/// confirmed it, or until the failure policy decided otherwise) and released when the
/// function ends: on `return`, on `?`, at the end of the body, and when a panic unwinds.
/// The function keeps its name, visibility, attributes, generics, receiver, arguments and
/// return type.
///
/// ```
/// use ecs_protect::protected;
/// # // Local mode whatever the environment, so that the example runs offline.
/// # let _ = ecs_protect::set_global(ecs_protect::Protector::with_backend(ecs_protect::Disabled));
///
/// #[protected]
/// fn handle(message: &str) -> Result<(), std::num::ParseIntError> {
///     let amount: u32 = message.parse()?; // protection is released on `?` too
///     println!("charging {amount}");
///     Ok(())
/// }
///
/// handle("42")?;
/// # Ok::<(), std::num::ParseIntError>(())
/// ```
///
/// # Options
///
/// - `#[protected]` uses the process-wide default protector ([`global`]) and never changes
///   the function's control flow: when protection cannot be had, the body runs anyway
///   and the protector logs a warning.
/// - `#[protected(required)]` returns `Err(From::from(error))` instead of running the body
///   when protection cannot be had (or shutdown has begun), so the message goes back to its
///   queue. The function must return a `Result` whose error type implements
///   `From<ecs_protect::Error>`.
/// - `#[protected(protector = EXPR)]` uses the protector `EXPR` evaluates to (a
///   `Protector`, `&Protector`, `Arc<Protector>`, or any type that is `AsRef<Protector>`),
///   evaluated at each call.
///
/// Options combine: `#[protected(required, protector = self.protector())]`.
///
/// ```
/// use ecs_protect::{Disabled, Error, Protector, protected};
/// use std::sync::OnceLock;
///
/// fn protector() -> &'static Protector {
///     static PROTECTOR: OnceLock<Protector> = OnceLock::new();
///     PROTECTOR.get_or_init(|| Protector::with_backend(Disabled))
/// }
///
/// #[protected(required, protector = protector())]
/// fn charge(amount: u32) -> Result<u32, Error> {
///     assert_eq!(protector().in_flight(), 1); // counted while the body runs
///     Ok(amount)
/// }
///
/// assert_eq!(charge(7)?, 7);
/// assert_eq!(protector().in_flight(), 0);
/// # Ok::<(), Error>(())
/// ```
///
/// A `required` function must return `Result<_, E>` with `E: From<ecs_protect::Error>`
/// (`ecs_protect::Error` itself, your own error type, `Box<dyn std::error::Error>`…);
/// anything else is a compile error at its return type:
///
/// ```text
/// error[E0277]: `#[protected(required)]` needs a function returning `Result<_, E>` with
///               `E: From<ecs_protect::Error>`, not `u32`
///   |
/// 2 | fn handle() -> u32 {
///   |                ^^^ cannot return the protection error as `u32`
/// ```
///
/// The expression given to `protector = ` is evaluated in the function's scope at each call,
/// before the body: it can use the parameters and `self`, not the body's locals or items.
///
/// ```
/// use ecs_protect::{Disabled, Protector, protected};
///
/// struct Worker {
///     protector: Protector,
/// }
///
/// impl Worker {
///     #[protected(protector = self.protector)]
///     fn handle(&self, message: &str) -> usize {
///         assert_eq!(self.protector.in_flight(), 1);
///         message.len()
///     }
/// }
///
/// let worker = Worker { protector: Protector::with_backend(Disabled) };
/// assert_eq!(worker.handle("order-1"), 7);
/// ```
///
/// # Explanation
///
/// The attribute keeps the function as written (name, visibility, attributes, doc comments,
/// generics, `where` clauses, receiver, `unsafe`, `extern`, argument and return types) and
/// binds a guard before the body, which keeps its own scope:
///
/// ```text
/// fn charge(amount: u32) -> Result<u32, Error> {
///     let guard = match ::ecs_protect::__private::enter_required(/* &Protector */ protector()) {
///         Ok(guard) => guard,
///         Err(error) => return RequiredReturn::refused(error), // Err(From::from(error))
///     };
///     {
///         Ok(amount)        // the body, as written
///     }
/// }                         // `guard` dropped: protection released
/// ```
///
/// Without `required` the first statement is `let guard =
/// ::ecs_protect::__private::enter(EXPR);`, which never fails. `EXPR` may be anything that
/// is `AsRef<Protector>`; another type is a compile error at the expression. There is no closure, so
/// `return`, `?`, `break` with a value, `-> impl Trait`, `-> !` and references borrowed from
/// the arguments behave exactly as without the attribute, and type errors in the body are
/// reported as they would be without it.
///
/// The guard is the function's first local, so it is dropped after everything the body
/// holds; the arguments themselves are dropped just after it, as Rust drops a function's
/// parameters after its body. The guard's name has a mixed-site span, so the body cannot
/// name it and nothing of yours can clash with it. Every path is absolute, so a module of
/// yours named `ecs_protect` (or a type named `Result`) changes nothing.
///
/// # Misuse
///
/// Each of these is one compile error at the offending token, and the item is left as
/// written so that no other error follows:
///
/// - `async fn`: acquiring protection is a blocking call that would stall an async executor;
///   ecs-protect serves thread-based workers. Call a `#[protected]` function from
///   `spawn_blocking` instead.
/// - `const fn`: protection is taken at run time.
/// - anything that is not a function with a body: a struct, an `impl` block (put the
///   attribute on each method), a trait method without a default body;
/// - an unknown option (the message lists the valid ones), an option given twice,
///   `required = …`, `protector` without an expression.
///
/// A function whose signature does not parse is left to rustc, which reports the syntax
/// error; the attribute only adds that it could not read the signature.
#[doc(inline)]
pub use ecs_protect_macros::protected;

pub use backend::{Backend, Disabled, Protection, ProtectionState};
pub use config::{Config, ConfigBuilder, FailurePolicy};
pub use env::Env;
pub use error::{ApiError, Error, RefusalReason};
pub use global::{global, set_global};
pub use protector::{Drained, Guard, Protector, State, Stats};
pub use shared::SharedBackend;
pub use shutdown::Shutdown;
