//! The expansion: the same function, with a guard bound before its body's own scope.
//!
//! ```text
//! #outer_attrs #vis #sig {
//!     #inner_attrs
//!     let __ecs_protect_guard = ::ecs_protect::__private::enter(
//!         ::ecs_protect::__private::ProtectorSource::protector(&(#expr)), // or `global()`
//!     );
//!     { #body }
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ReturnType};

use crate::args::Args;
use crate::item::ItemFn;

/// Re-emits `item` with protection held for the whole body.
///
/// The guard is a local with a mixed-site span: the body cannot name it and no name of the
/// user's can clash with it. It is bound before the body's block, so it is dropped after
/// everything the body holds: on `return`, `?`, the end of the body, and unwinding. The
/// body keeps its own scope (and its original braces' spans), so its items and `use`
/// declarations cannot change what the protector expression means, and vice versa.
pub(crate) fn protected(args: &Args, item: &ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        brace,
        inner_attrs,
        body,
    } = item;
    let guard = Ident::new("__ecs_protect_guard", Span::mixed_site());
    let protector = match &args.protector {
        Some(expr) => quote_spanned! {expr.span()=>
            ::ecs_protect::__private::ProtectorSource::protector(&(#expr))
        },
        None => quote!(::ecs_protect::__private::global()),
    };
    let acquire = if args.required.is_some() {
        required(&guard, &protector, &sig.output, sig.ident.span())
    } else {
        quote! {
            let #guard = ::ecs_protect::__private::enter(#protector);
        }
    };
    let mut block = TokenStream::new();
    brace.surround(&mut block, |tokens| {
        for attr in inner_attrs {
            attr.to_tokens(tokens);
        }
        acquire.to_tokens(tokens);
        brace.surround(tokens, |tokens| body.to_tokens(tokens));
    });
    quote! {
        #(#attrs)*
        #vis #sig #block
    }
}

/// `required`: the guard, or an early return of the acquire error converted into the
/// function's own `Result`.
///
/// The conversion goes through `__private::RequiredReturn`, its `Self` inferred from the
/// function's return type. It is spanned at the declared return type (at the name when there is none),
/// so a function that cannot return the error is reported there, with the trait's message.
fn required(
    guard: &Ident,
    protector: &TokenStream,
    output: &ReturnType,
    name: Span,
) -> TokenStream {
    let span = match output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => name,
    };
    let error = Ident::new("__ecs_protect_error", Span::mixed_site());
    let refused = quote_spanned! {span=>
        ::ecs_protect::__private::RequiredReturn::refused(#error)
    };
    quote! {
        let #guard = match ::ecs_protect::__private::enter_required(#protector) {
            ::core::result::Result::Ok(#guard) => #guard,
            ::core::result::Result::Err(#error) => return #refused,
        };
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::protected;
    use crate::args::Args;
    use crate::item::ItemFn;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        let args: Args = syn::parse2(args).expect("valid options");
        let item: ItemFn = syn::parse2(item).expect("a function");
        protected(&args, &item).to_string()
    }

    #[test]
    fn inner_attributes_then_guard_then_the_body_in_its_own_block() {
        let out = expand(
            quote!(),
            quote! {
                /// Docs.
                #[inline]
                pub(crate) fn handle<T: Clone>(value: T) -> T where T: Send {
                    #![allow(unused)]
                    let copy = value.clone();
                    copy
                }
            },
        );
        let expected = quote! {
            #[doc = r" Docs."]
            #[inline]
            pub(crate) fn handle<T: Clone>(value: T) -> T where T: Send {
                #![allow(unused)]
                let __ecs_protect_guard = ::ecs_protect::__private::enter(
                    ::ecs_protect::__private::global()
                );
                {
                    let copy = value.clone();
                    copy
                }
            }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn required_returns_through_the_trait_and_protector_goes_through_its_source() {
        let out = expand(
            quote!(required, protector = self.protector),
            quote! {
                fn handle(&self) -> Result<(), Error> { Ok(()) }
            },
        );
        let expected = quote! {
            fn handle(&self) -> Result<(), Error> {
                let __ecs_protect_guard = match ::ecs_protect::__private::enter_required(
                    ::ecs_protect::__private::ProtectorSource::protector(&(self.protector))
                ) {
                    ::core::result::Result::Ok(__ecs_protect_guard) => __ecs_protect_guard,
                    ::core::result::Result::Err(__ecs_protect_error) => return
                        ::ecs_protect::__private::RequiredReturn::refused(__ecs_protect_error),
                };
                {
                    Ok(())
                }
            }
        };
        assert_eq!(out, expected.to_string());
    }
}
