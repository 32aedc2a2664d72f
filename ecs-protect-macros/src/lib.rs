//! Implementation detail of the `ecs-protect` crate: the `#[protected]` attribute.
//! (PLACEHOLDER)

use proc_macro::TokenStream;

/// Protects the task while the function runs. See `ecs_protect::protected`.
#[proc_macro_attribute]
pub fn protected(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
