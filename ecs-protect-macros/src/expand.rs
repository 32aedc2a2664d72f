//! The expansion: the same function, with a guard bound before its body.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ReturnType};

use crate::args::Args;
use crate::item::ItemFn;

/// Re-emits `item` with protection held for the whole body.
///
/// The guard is a local with a mixed-site span: the body cannot name it and no name of the
/// user's can clash with it. It is the first local, so it is dropped last: after the body's
/// own locals, on `return`, `?`, the end of the body, and unwinding.
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
        Some(expr) => quote_spanned!(expr.span()=> &(#expr)),
        None => quote!(::ecs_protect::__private::global()),
    };
    let acquire = if args.required.is_some() {
        // Spanned at the return type, so a function that cannot return the error is
        // reported there.
        let span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        };
        let error = Ident::new("__ecs_protect_error", Span::mixed_site());
        // `From::from` is the identity when the function returns `ecs_protect::Error`
        // itself; that is the user's choice, not a lint for them to see.
        quote_spanned! {span=>
            #[allow(clippy::useless_conversion)]
            let #guard = match ::ecs_protect::__private::enter_required(#protector) {
                ::core::result::Result::Ok(guard) => guard,
                ::core::result::Result::Err(#error) => {
                    return ::core::result::Result::Err(::core::convert::From::from(#error));
                }
            };
        }
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
        body.to_tokens(tokens);
    });
    quote! {
        #(#attrs)*
        #vis #sig #block
    }
}
