//! The options of `#[protected(...)]`: `required` and `protector = <expression>`.
//!
//! Each mistake is one error at the token that caused it: an unknown option (the message
//! lists the valid ones), an option given twice, a value where none is taken, a missing one.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, Token};

mod kw {
    syn::custom_keyword!(required);
    syn::custom_keyword!(protector);
}

/// The valid forms, named by every error about an unknown option.
const VALID: &str = "expected `required` or `protector = <expression>`";

/// The parsed options.
#[derive(Default)]
pub(crate) struct Args {
    /// `required`: return the acquire error instead of running unprotected.
    pub(crate) required: Option<kw::required>,
    /// `protector = EXPR`: the protector to use instead of the default one.
    pub(crate) protector: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::required) {
                let keyword: kw::required = input.parse()?;
                once(&args.required, "required", keyword.span)?;
                if input.peek(Token![=]) || input.peek(syn::token::Paren) {
                    return Err(input.error("`required` takes no value"));
                }
                args.required = Some(keyword);
            } else if lookahead.peek(kw::protector) {
                let keyword: kw::protector = input.parse()?;
                once(&args.protector, "protector", keyword.span)?;
                args.protector = Some(protector_value(input, keyword.span)?);
            } else if input.peek(Ident) {
                let unknown: Ident = input.parse()?;
                return Err(syn::Error::new(
                    unknown.span(),
                    format!("unknown option `{unknown}`: {VALID}"),
                ));
            } else {
                return Err(syn::Error::new(lookahead.error().span(), VALID));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// The one duplicate check: an error at the repeated keyword if `slot` is already filled.
fn once<T>(slot: &Option<T>, name: &str, at: Span) -> syn::Result<()> {
    match slot {
        Some(_) => Err(syn::Error::new(at, format!("`{name}` is given twice"))),
        None => Ok(()),
    }
}

/// `= <expression>` after `protector`, with an error naming what is missing.
fn protector_value(input: ParseStream<'_>, keyword: Span) -> syn::Result<Expr> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            keyword,
            "expected `protector = <expression>`",
        ));
    }
    let equals: Token![=] = input.parse()?;
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            equals.span,
            "expected an expression after `protector =`",
        ));
    }
    input.parse()
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::Args;

    fn parse(tokens: TokenStream) -> Result<Args, String> {
        syn::parse2::<Args>(tokens).map_err(|err| err.to_string())
    }

    #[test]
    fn options_in_any_order_with_or_without_a_trailing_comma() {
        for tokens in [
            quote!(),
            quote!(required),
            quote!(required,),
            quote!(protector = self.protector),
            quote!(required, protector = protector()),
            quote!(protector = Arc::clone(&p), required,),
        ] {
            assert!(parse(tokens.clone()).is_ok(), "{tokens}");
        }
        let both = parse(quote!(protector = p, required)).expect("valid");
        assert!(both.required.is_some() && both.protector.is_some());
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            (quote!(required, required), "`required` is given twice"),
            (
                quote!(protector = a, protector = b),
                "`protector` is given twice",
            ),
            (quote!(required = true), "`required` takes no value"),
            (quote!(required(true)), "`required` takes no value"),
            (quote!(protector), "expected `protector = <expression>`"),
            (
                quote!(protector = ),
                "expected an expression after `protector =`",
            ),
            (
                quote!(require),
                "unknown option `require`: expected `required` or `protector = <expression>`",
            ),
            (
                quote!("required"),
                "expected `required` or `protector = <expression>`",
            ),
            (quote!(required protector = p), "expected `,`"),
        ];
        for (tokens, message) in cases {
            assert_eq!(
                parse(tokens.clone()).err().as_deref(),
                Some(message),
                "{tokens}"
            );
        }
    }
}
