//! The derived signing key, its cache, and the signature over a string to sign.

use std::fmt;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::StringToSign;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of every length (long keys are hashed), so this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("hmac accepts keys of any length"),
    }
}

/// The key derived from a secret access key for one day, region and service:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// `Debug` does not print the key.
///
/// ```
/// use ecs_protect::sigv4::SigningKey;
///
/// let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
/// assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives the key for `date` (`YYYYMMDD`), `region` and `service`.
    pub fn derive(secret_access_key: &str, date: &str, region: &str, service: &str) -> Self {
        let mut first = Vec::with_capacity(4 + secret_access_key.len());
        first.extend_from_slice(b"AWS4");
        first.extend_from_slice(secret_access_key.as_bytes());
        let k_date = hmac_sha256(&first, date.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, service.as_bytes());
        SigningKey(hmac_sha256(&k_service, b"aws4_request"))
    }

    /// The signature of `string_to_sign`, as lower-case hex.
    pub fn sign(&self, string_to_sign: &StringToSign) -> String {
        super::hex(&hmac_sha256(&self.0, string_to_sign.as_str().as_bytes()))
    }

    /// Whether `signature` (hex, either case) is the signature of `string_to_sign`,
    /// compared in constant time (`hmac`'s `verify_slice`).
    ///
    /// ```
    /// use ecs_protect::sigv4::{SigningKey, StringToSign};
    ///
    /// let key = SigningKey::derive("secret", "20150830", "us-east-1", "ecs");
    /// let sts = StringToSign::from_text("AWS4-HMAC-SHA256\n...".to_owned());
    /// let signature = key.sign(&sts);
    /// assert!(key.verify(&sts, &signature));
    /// assert!(!key.verify(&sts, "00"));
    /// ```
    pub fn verify(&self, string_to_sign: &StringToSign, signature: &str) -> bool {
        let Some(tag) = decode_hex(signature) else {
            return false;
        };
        let mut mac = new_mac(&self.0);
        mac.update(string_to_sign.as_str().as_bytes());
        mac.verify_slice(&tag).is_ok()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// How many derived keys the cache keeps (one per date/region/service/secret in use: a
/// process signs for ECS and maybe SQS, and rotates keys a few times a day).
const CACHE_SIZE: usize = 4;

struct Entry {
    secret: String,
    date: [u8; 8],
    region: String,
    service: String,
    key: SigningKey,
}

/// A small most-recently-used cache of derived keys, keyed by (secret, date, region,
/// service).
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<Vec<Entry>>,
}

impl KeyCache {
    /// The key for these inputs, derived once and then served from the cache.
    pub(crate) fn get(&self, secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let date_bytes: [u8; 8] = match date.as_bytes().try_into() {
            Ok(d) => d,
            // Not a scope date: derive without caching.
            Err(_) => return SigningKey::derive(secret, date, region, service),
        };
        let Ok(mut entries) = self.entries.lock() else {
            return SigningKey::derive(secret, date, region, service);
        };
        if let Some(i) = entries.iter().position(|e| {
            e.date == date_bytes && e.secret == secret && e.region == region && e.service == service
        }) {
            let key = entries[i].key.clone();
            if i != 0 {
                let entry = entries.remove(i);
                entries.insert(0, entry);
            }
            return key;
        }
        let key = SigningKey::derive(secret, date, region, service);
        entries.insert(
            0,
            Entry {
                secret: secret.to_owned(),
                date: date_bytes,
                region: region.to_owned(),
                service: service.to_owned(),
                key: key.clone(),
            },
        );
        entries.truncate(CACHE_SIZE);
        key
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn derives_the_documented_example_key() {
        // The example in the AWS General Reference ("Examples of how to derive a signing
        // key for Signature Version 4").
        let key = SigningKey::derive(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(
            super::super::hex(&key.0),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_serves_the_same_key_and_keeps_a_few() {
        let cache = KeyCache::default();
        let a = cache.get(SECRET, "20150830", "us-east-1", "ecs");
        assert_eq!(
            a,
            SigningKey::derive(SECRET, "20150830", "us-east-1", "ecs")
        );
        assert_eq!(cache.get(SECRET, "20150830", "us-east-1", "ecs"), a);
        assert_eq!(cache.len(), 1);
        let b = cache.get(SECRET, "20150831", "us-east-1", "ecs");
        assert_ne!(a, b);
        let c = cache.get("other", "20150830", "us-east-1", "ecs");
        assert_ne!(a, c);
        for service in ["sqs", "sts", "s3", "iam"] {
            cache.get(SECRET, "20150830", "us-east-1", service);
        }
        assert_eq!(cache.len(), CACHE_SIZE);
        let shown = format!("{cache:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("other"),
            "{shown}"
        );
    }

    #[test]
    fn verify_rejects_bad_hex_and_other_signatures() {
        let key = SigningKey::derive(SECRET, "20150830", "us-east-1", "ecs");
        let sts = StringToSign::from_text("x".to_owned());
        let good = key.sign(&sts);
        assert!(key.verify(&sts, &good));
        assert!(key.verify(&sts, &good.to_ascii_uppercase()));
        assert!(!key.verify(&sts, &good[..62]));
        assert!(!key.verify(&sts, &format!("{}zz", &good[..62])));
        let other = SigningKey::derive("wrong", "20150830", "us-east-1", "ecs");
        assert!(!other.verify(&sts, &good));
    }
}
