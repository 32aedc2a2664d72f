//! What `#[protected]`'s expansion names. Not public API: no semver guarantees.
//! (PLACEHOLDER)
