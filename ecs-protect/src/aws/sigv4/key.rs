//! HMAC-SHA256, the signing-key derivation and the per-(secret, date, region, service) key cache.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How many derived keys a signer keeps: one per (secret, day, region, service) in use;
/// a client signs for one or two services at a time, a day boundary briefly needs two.
const CAPACITY: usize = 4;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104 hashes longer ones), so this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The SigV4 signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn derive_signing_key(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let mut secret_key = Vec::with_capacity(4 + secret.len());
    secret_key.extend_from_slice(b"AWS4");
    secret_key.extend_from_slice(secret.as_bytes());
    let date_key = hmac_sha256(&secret_key, date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    hmac_sha256(&service_key, b"aws4_request")
}

/// Derived signing keys, most recently added last.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<Vec<Entry>>,
    derivations: AtomicU64,
}

struct Entry {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: [u8; 32],
}

impl Entry {
    fn matches(&self, secret: &str, date: &str, region: &str, service: &str) -> bool {
        self.date == date
            && self.region == region
            && self.service == service
            && self.secret == secret
    }
}

impl KeyCache {
    /// The signing key for these inputs, derived once and then reused.
    pub(crate) fn get(&self, secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
        // A poisoned lock only means another signer panicked mid-update of plain data:
        // the entries are still whole, so keep using them.
        {
            let entries = self
                .entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(entry) = entries
                .iter()
                .find(|e| e.matches(secret, date, region, service))
            {
                return entry.key;
            }
        }
        let key = derive_signing_key(secret, date, region, service);
        self.derivations.fetch_add(1, Ordering::Relaxed);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !entries
            .iter()
            .any(|e| e.matches(secret, date, region, service))
        {
            if entries.len() >= CAPACITY {
                entries.remove(0);
            }
            entries.push(Entry {
                secret: secret.to_owned(),
                date: date.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
                key,
            });
        }
        key
    }

    /// How many keys were derived (cache misses) so far.
    #[cfg(test)]
    pub(crate) fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    /// How many keys are cached.
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("cached_keys", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sigv4::hex::to_hex;

    #[test]
    fn derives_the_documented_example_key() {
        // From the AWS documentation's "derive a signing key" example.
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            to_hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn reuses_a_key_and_derives_a_new_one_per_input() {
        let cache = KeyCache::default();
        let first = cache.get("secret", "20240101", "us-east-1", "ecs");
        let again = cache.get("secret", "20240101", "us-east-1", "ecs");
        assert_eq!(first, again);
        assert_eq!(cache.derivations(), 1);

        let next_day = cache.get("secret", "20240102", "us-east-1", "ecs");
        let other_secret = cache.get("rotated", "20240101", "us-east-1", "ecs");
        let other_region = cache.get("secret", "20240101", "eu-west-1", "ecs");
        let other_service = cache.get("secret", "20240101", "us-east-1", "sqs");
        assert_eq!(cache.derivations(), 5);
        for key in [next_day, other_secret, other_region, other_service] {
            assert_ne!(key, first);
        }
        assert_eq!(
            cache.len(),
            CAPACITY,
            "the oldest entry is evicted at capacity"
        );
        let _ = cache.get("secret", "20240101", "us-east-1", "ecs");
        assert_eq!(cache.derivations(), 6, "the first entry was evicted");
    }

    #[test]
    fn debug_shows_no_secret_or_key() {
        let cache = KeyCache::default();
        let key = cache.get(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20240101",
            "us-east-1",
            "ecs",
        );
        let debug = format!("{cache:?}");
        assert!(!debug.contains("wJalr"), "{debug}");
        assert!(!debug.contains(&to_hex(&key)), "{debug}");
        assert_eq!(debug, "KeyCache { cached_keys: 1, .. }");
    }
}
