//! Implementation detail of the `ecs-protect` crate: the `#[protected]` attribute.
//!
//! Use it through `ecs_protect::protected`; the expansion names items of
//! `::ecs_protect::__private`, which exist only in the matching `ecs-protect` version.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod expand;
mod item;

use proc_macro::TokenStream;

/// Keeps the ECS task protected from scale-in while the function runs.
///
/// See `ecs_protect::protected` for the full documentation.
#[proc_macro_attribute]
pub fn protected(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse::<args::Args>(args) {
        Ok(args) => args,
        Err(err) => return with_item_unchanged(err, item),
    };
    let function = match syn::parse::<item::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(err) => return with_item_unchanged(err, item),
    };
    if let Err(err) = function.check() {
        return with_item_unchanged(err, item);
    }
    expand::protected(&args, &function).into()
}

/// The error, plus the item as written so that no follow-on error appears.
fn with_item_unchanged(err: syn::Error, item: TokenStream) -> TokenStream {
    let mut out: TokenStream = err.to_compile_error().into();
    out.extend(item);
    out
}
