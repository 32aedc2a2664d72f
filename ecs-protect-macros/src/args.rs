//! The options of `#[protected(...)]`: `required` and `protector = <expression>`.

use syn::parse::{Parse, ParseStream};
use syn::{Expr, Token};

mod kw {
    syn::custom_keyword!(required);
    syn::custom_keyword!(protector);
}

/// What every option error says, so the user sees the valid forms.
const EXPECTED: &str = "expected `required` or `protector = <expression>`";

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
                if args.required.is_some() {
                    return Err(syn::Error::new(keyword.span, "`required` is given twice"));
                }
                args.required = Some(keyword);
            } else if lookahead.peek(kw::protector) {
                let keyword: kw::protector = input.parse()?;
                if args.protector.is_some() {
                    return Err(syn::Error::new(keyword.span, "`protector` is given twice"));
                }
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        keyword.span,
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
                args.protector = Some(input.parse()?);
            } else {
                return Err(syn::Error::new(lookahead.error().span(), EXPECTED));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}
