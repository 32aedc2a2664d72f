//! Compile-time behaviour of `#[protected]`: every supported function shape compiles, and
//! every misuse is one error at the offending token.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
