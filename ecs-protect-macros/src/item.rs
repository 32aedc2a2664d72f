//! The function `#[protected]` is applied to, kept as written: attributes, visibility,
//! signature, inner attributes and the body's tokens (never re-parsed).

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Visibility, braced, token};

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
        let sig: Signature = input.parse()?;
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
    /// Rejects the function shapes the attribute cannot wrap, at the offending token.
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
