//! The function `#[protected]` is applied to, kept as written: attributes, visibility,
//! signature, inner attributes and the body's tokens (never re-parsed, so a body that does
//! not compile yet still expands and rustc reports the real error).

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, LitStr, Signature, Token, Visibility, braced, token};

/// A function with a body, the body left as raw tokens.
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) brace: token::Brace,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !starts_a_function(input) {
            return Err(not_a_function(input));
        }
        // A function-shaped item whose signature does not parse is reported at the offending
        // token, never as "not a function"; rustc's own parse error says what is wrong.
        let sig: Signature = input.parse().map_err(|err| {
            syn::Error::new(
                err.span(),
                "#[protected] cannot read this function's signature",
            )
        })?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new_spanned(
                &sig,
                "#[protected] needs a function with a body; for a trait method without a \
                 default body, put it on the methods that implement it",
            ));
        }
        let content;
        let brace = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            brace,
            inner_attrs,
            body,
        })
    }
}

impl ItemFn {
    /// Rejects the function shapes the attribute cannot wrap, at the offending keyword.
    pub(crate) fn check(&self) -> syn::Result<()> {
        if let Some(asyncness) = &self.sig.asyncness {
            return Err(syn::Error::new_spanned(
                asyncness,
                "#[protected] does not support `async fn`: acquiring protection is a blocking \
                 call that would stall an async executor; ecs-protect serves thread-based workers",
            ));
        }
        if let Some(constness) = &self.sig.constness {
            return Err(syn::Error::new_spanned(
                constness,
                "#[protected] does not support `const fn`: protection is taken at run time",
            ));
        }
        Ok(())
    }
}

/// Whether the tokens after the visibility are a function's qualifiers and `fn`.
fn starts_a_function(input: ParseStream<'_>) -> bool {
    let ahead = input.fork();
    loop {
        if ahead.peek(Token![fn]) {
            return true;
        }
        let qualifier = ahead
            .parse::<Option<Token![const]>>()
            .ok()
            .flatten()
            .is_some()
            || ahead
                .parse::<Option<Token![async]>>()
                .ok()
                .flatten()
                .is_some()
            || ahead
                .parse::<Option<Token![unsafe]>>()
                .ok()
                .flatten()
                .is_some()
            || ahead
                .parse::<Option<Token![default]>>()
                .ok()
                .flatten()
                .is_some();
        if qualifier {
            continue;
        }
        if ahead
            .parse::<Option<Token![extern]>>()
            .ok()
            .flatten()
            .is_some()
        {
            let _abi = ahead.parse::<Option<LitStr>>();
            continue;
        }
        return false;
    }
}

/// The error for an item that is not a function, at its first token (`struct`, `impl`…).
fn not_a_function(input: ParseStream<'_>) -> syn::Error {
    let message = "#[protected] applies to functions; for an `impl` block or a trait, put it \
                   on each method";
    match input.fork().parse::<TokenTree>() {
        Ok(first) => syn::Error::new(first.span(), message),
        Err(_) => input.error(message),
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::ItemFn;

    fn error(item: TokenStream) -> String {
        match syn::parse2::<ItemFn>(item) {
            Ok(function) => match function.check() {
                Ok(()) => String::new(),
                Err(err) => err.to_string(),
            },
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn every_qualifier_combination_is_a_function() {
        for item in [
            quote!(
                fn a() {}
            ),
            quote!(
                pub(crate) unsafe fn a() {}
            ),
            quote!(
                extern "C" fn a() {}
            ),
            quote!(
                unsafe extern "C" fn a() {}
            ),
            quote!(
                pub unsafe extern "C" fn a() {}
            ),
            quote!(
                #[inline]
                pub(super) fn a<T>(t: T) -> T
                where
                    T: Copy,
                {
                    t
                }
            ),
        ] {
            assert_eq!(error(item.clone()), "", "{item}");
        }
    }

    #[test]
    fn async_and_const_are_refused_by_name() {
        assert!(
            error(quote!(
                pub async fn a() {}
            ))
            .contains("`async fn`")
        );
        assert!(
            error(quote!(
                async unsafe fn a() {}
            ))
            .contains("`async fn`")
        );
        assert!(
            error(quote!(
                const fn a() {}
            ))
            .contains("`const fn`")
        );
        assert!(
            error(quote!(
                pub const unsafe fn a() {}
            ))
            .contains("`const fn`")
        );
    }

    #[test]
    fn other_items_are_not_functions() {
        for item in [
            quote!(
                struct A;
            ),
            quote!(impl A { fn a() {} }),
            quote!(
                const A: u32 = 1;
            ),
            quote!(
                const _: () = ();
            ),
            quote!(
                unsafe impl Send for A {}
            ),
            quote!(
                extern crate alloc;
            ),
            quote!(
                extern "C" {
                    fn a();
                }
            ),
            quote!(
                static A: u32 = 1;
            ),
            quote!(
                mod a {}
            ),
        ] {
            assert!(
                error(item.clone()).starts_with("#[protected] applies to functions"),
                "{item}: {}",
                error(item.clone())
            );
        }
    }

    #[test]
    fn a_bodiless_or_malformed_function_is_reported_as_such() {
        assert!(
            error(quote!(
                fn a(&self);
            ))
            .contains("needs a function with a body")
        );
        assert_eq!(
            error(quote!(fn a(x: ) {})),
            "#[protected] cannot read this function's signature"
        );
    }
}
