//! AWS Signature Version 4 request signing, as pure functions. (PLACEHOLDER)
