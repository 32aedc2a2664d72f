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
    //! Properties of the expansion, not a token-for-token copy of it: the function keeps its
    //! attributes and signature, inner attributes come first, then the guard, then the body
    //! in its own block, unchanged; every path to the runtime is absolute.

    use proc_macro2::{TokenStream, TokenTree};
    use quote::{ToTokens, quote};
    use syn::{AttrStyle, Expr, Pat, Stmt};

    use super::protected;
    use crate::args::Args;
    use crate::item::ItemFn;

    const GUARD: &str = "__ecs_protect_guard";

    fn expand(args: TokenStream, item: TokenStream) -> syn::ItemFn {
        let args: Args = syn::parse2(args).expect("valid options");
        let parsed: ItemFn = syn::parse2(item).expect("a function");
        syn::parse2(protected(&args, &parsed)).expect("the expansion is a function")
    }

    fn text(tokens: impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    /// Every token of `tokens`, groups flattened (delimiters dropped), in order.
    fn flat(tokens: TokenStream, out: &mut Vec<TokenTree>) {
        for tree in tokens {
            match tree {
                TokenTree::Group(group) => flat(group.stream(), out),
                other => out.push(other),
            }
        }
    }

    /// Counts the paths that mention `ident` (`ecs_protect`, `core`), asserting each is
    /// absolute: a leading `::` that no other path segment precedes, and for `ecs_protect`,
    /// `__private` next.
    fn assert_absolute(expansion: &syn::ItemFn, ident: &str) -> usize {
        fn is_colon(token: Option<&TokenTree>) -> bool {
            matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == ':')
        }
        fn scan(tokens: TokenStream, ident: &str, whole: &str) -> usize {
            let tokens: Vec<TokenTree> = tokens.into_iter().collect();
            let at = |i: Option<usize>| i.and_then(|i| tokens.get(i));
            let mut found = 0;
            for (i, token) in tokens.iter().enumerate() {
                match token {
                    TokenTree::Group(group) => found += scan(group.stream(), ident, whole),
                    TokenTree::Ident(id) if id == ident => {
                        found += 1;
                        assert!(
                            is_colon(at(i.checked_sub(1))) && is_colon(at(i.checked_sub(2))),
                            "`{ident}` without a leading `::` in {whole}"
                        );
                        let before = at(i.checked_sub(3));
                        assert!(
                            !matches!(before, Some(TokenTree::Ident(id)) if id != "return" && id != "match")
                                && !is_colon(before),
                            "`{ident}` is not the first segment in {whole}"
                        );
                        if ident == "ecs_protect" {
                            let next: Vec<String> = tokens[i + 1..i + 4]
                                .iter()
                                .map(ToString::to_string)
                                .collect();
                            assert_eq!(next, [":", ":", "__private"], "{whole}");
                        }
                    }
                    _ => {}
                }
            }
            found
        }
        scan(expansion.to_token_stream(), ident, &text(expansion))
    }

    /// The statements of the expansion's block: (the guard's `let`, the body's block).
    fn guard_and_body(expansion: &syn::ItemFn) -> (&syn::Local, &syn::Block) {
        let stmts = &expansion.block.stmts;
        assert_eq!(stmts.len(), 2, "guard then body: {}", text(expansion));
        let Stmt::Local(local) = &stmts[0] else {
            panic!("the guard comes first: {}", text(expansion));
        };
        let Pat::Ident(binding) = &local.pat else {
            panic!("the guard is a plain binding: {}", text(local));
        };
        assert_eq!(binding.ident, GUARD);
        assert!(binding.mutability.is_none() && binding.by_ref.is_none());
        let Stmt::Expr(Expr::Block(body), None) = &stmts[1] else {
            panic!("the body is a block of its own: {}", text(expansion));
        };
        assert!(body.attrs.is_empty() && body.label.is_none());
        (local, &body.block)
    }

    #[test]
    fn attributes_and_signature_are_kept_and_inner_attributes_come_first() {
        let input = quote! {
            /// Docs.
            #[inline]
            #[must_use]
            pub(crate) fn handle<'a, T: Clone>(value: &'a T) -> T where T: Send {
                #![allow(unused)]
                #![deny(clippy::all)]
                let copy = value.clone();
                copy
            }
        };
        let original: syn::ItemFn = syn::parse2(input.clone()).unwrap();
        let expansion = expand(quote!(), input);
        assert_eq!(text(&expansion.sig), text(&original.sig));
        assert_eq!(text(&expansion.vis), text(&original.vis));
        // syn collects the body's inner attributes with the outer ones, in order.
        let styles: Vec<bool> = expansion
            .attrs
            .iter()
            .map(|a| matches!(a.style, AttrStyle::Inner(_)))
            .collect();
        assert_eq!(styles, [false, false, false, true, true]);
        assert_eq!(
            expansion.attrs.iter().map(text).collect::<Vec<_>>(),
            original.attrs.iter().map(text).collect::<Vec<_>>()
        );
        // In the tokens, the inner attributes open the block, before the guard.
        let block = text(&expansion);
        let brace = block.find('{').expect("a block");
        let first = block
            .find("# ! [allow (unused)]")
            .expect("inner attribute kept");
        let second = block
            .find("# ! [deny (clippy :: all)]")
            .expect("inner attribute kept");
        let guard = block.find(GUARD).expect("a guard");
        assert!(brace < first && first < second && second < guard, "{block}");
        assert_eq!(block[brace + 1..first].trim(), "", "{block}");
    }

    #[test]
    fn the_body_is_in_its_own_block_after_the_guard_unchanged() {
        let body = quote! {
            use std::fmt::Write as _;
            fn helper() -> u8 { 1 }
            let copy = value.clone();
            if copy.is_empty() { return copy; }
            copy
        };
        let expansion = expand(
            quote!(),
            quote!(fn handle(value: String) -> String { #body }),
        );
        let (_, block) = guard_and_body(&expansion);
        let original: syn::Block = syn::parse2(quote!({ #body })).unwrap();
        assert_eq!(text(block), text(&original));
        assert!(
            !text(block).contains(GUARD),
            "the body cannot see the guard"
        );
    }

    #[test]
    fn the_default_protector_is_the_global_one_through_absolute_paths() {
        let expansion = expand(
            quote!(),
            quote!(
                fn handle() {}
            ),
        );
        let (local, _) = guard_and_body(&expansion);
        let init = text(&local.init.as_ref().expect("initialised").expr);
        assert!(init.contains("__private :: enter ("), "{init}");
        assert!(init.contains("__private :: global ()"), "{init}");
        assert_eq!(assert_absolute(&expansion, "ecs_protect"), 2);
    }

    #[test]
    fn a_named_protector_goes_through_its_source_once() {
        let expansion = expand(
            quote!(protector = self.protector),
            quote!(
                fn handle(&self) {}
            ),
        );
        let (local, _) = guard_and_body(&expansion);
        let init = text(&local.init.as_ref().expect("initialised").expr);
        assert!(
            init.contains("ProtectorSource :: protector (& (self . protector))"),
            "{init}"
        );
        assert!(!init.contains("global"), "{init}");
        assert_eq!(text(&expansion).matches("self . protector").count(), 1);
        assert_eq!(assert_absolute(&expansion, "ecs_protect"), 2);
    }

    #[test]
    fn required_returns_the_error_through_the_trait_before_the_body() {
        let expansion = expand(
            quote!(required, protector = self.protector),
            quote!(
                fn handle(&self) -> Result<(), Error> {
                    Ok(())
                }
            ),
        );
        let (local, body) = guard_and_body(&expansion);
        let Expr::Match(matched) = &*local.init.as_ref().expect("initialised").expr else {
            panic!("required matches on the acquire: {}", text(local));
        };
        assert!(text(&matched.expr).contains("__private :: enter_required ("));
        assert_eq!(matched.arms.len(), 2);
        let ok = text(&matched.arms[0]);
        assert!(
            ok.starts_with(":: core :: result :: Result :: Ok ("),
            "{ok}"
        );
        let Expr::Return(returned) = &*matched.arms[1].body else {
            panic!("the error arm returns: {}", text(&matched.arms[1]));
        };
        let value = text(returned.expr.as_ref().expect("a value"));
        assert!(
            value.starts_with(":: ecs_protect :: __private :: RequiredReturn :: refused ("),
            "{value}"
        );
        assert_eq!(text(body), "{ Ok (()) }");
        assert_eq!(assert_absolute(&expansion, "ecs_protect"), 3);
        assert_eq!(assert_absolute(&expansion, "core"), 2);
    }

    #[test]
    fn no_path_of_the_user_is_used_to_reach_the_runtime() {
        // Whatever the body imports, the expansion names nothing relative: no `ecs_protect`
        // without `::`, no `__private` through another root.
        let expansion = expand(
            quote!(required),
            quote! {
                fn handle() -> Result<(), Error> {
                    use other as ecs_protect;
                    Ok(())
                }
            },
        );
        let (local, _) = guard_and_body(&expansion);
        let mut tokens = Vec::new();
        flat(local.to_token_stream(), &mut tokens);
        for (i, token) in tokens.iter().enumerate() {
            if matches!(token, TokenTree::Ident(id) if id == "__private") {
                assert_eq!(tokens[i - 3].to_string(), "ecs_protect", "{}", text(local));
            }
        }
    }
}
