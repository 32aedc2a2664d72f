//! The AWS side: SigV4 signing, credentials, task metadata, the ECS client and retries.
//! (PLACEHOLDER)
