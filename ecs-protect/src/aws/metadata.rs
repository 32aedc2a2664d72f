//! PLACEHOLDER: see issue 2.
