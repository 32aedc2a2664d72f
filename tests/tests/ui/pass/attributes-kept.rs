#![deny(missing_docs)]
//! A crate whose protected function keeps its docs and attributes.

/// Documented: `missing_docs` would fire if the attribute dropped this.
#[ecs_protect::protected]
#[inline]
#[allow(clippy::needless_return)]
pub fn documented() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    return 2;
}

fn main() {
    assert_eq!(documented(), 2);
}
