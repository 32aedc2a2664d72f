// `required` accepts any `Result<_, E>` with `E: From<ecs_protect::Error>`, however spelled.
use std::error::Error as StdError;
use std::sync::OnceLock;

use ecs_protect::{Disabled, Error, Protector};

fn protector() -> &'static Protector {
    static PROTECTOR: OnceLock<Protector> = OnceLock::new();
    PROTECTOR.get_or_init(|| Protector::with_backend(Disabled))
}

#[derive(Debug)]
struct AppError;

impl From<Error> for AppError {
    fn from(_: Error) -> Self {
        AppError
    }
}

type AppResult<T> = Result<T, AppError>;

#[ecs_protect::protected(required, protector = protector())]
fn alias() -> AppResult<u8> {
    Ok(1)
}

#[ecs_protect::protected(required, protector = protector())]
fn boxed() -> Result<u8, Box<dyn StdError + Send + Sync>> {
    Ok(2)
}

#[ecs_protect::protected(required, protector = protector())]
fn generic_error<E: From<Error>>() -> Result<u8, E> {
    Ok(3)
}

#[ecs_protect::protected(required, protector = protector())]
fn impl_trait_ok() -> Result<impl std::fmt::Display, Error> {
    Ok(4)
}

#[ecs_protect::protected(required, protector = protector())]
fn borrowed<'a>(items: &'a [u8]) -> Result<&'a u8, Error> {
    Ok(&items[0])
}

/// A protector handed in by the caller; the expression sees the parameters.
#[ecs_protect::protected(required, protector = with)]
fn parameter(with: &Protector) -> Result<u8, Error> {
    Ok(6)
}

macro_rules! handler {
    ($name:ident) => {
        #[ecs_protect::protected(required, protector = protector())]
        fn $name() -> Result<u8, Error> {
            Ok(7)
        }
    };
}

handler!(from_macro_a);
handler!(from_macro_b);

fn main() {
    assert_eq!(alias().unwrap(), 1);
    assert_eq!(boxed().unwrap(), 2);
    assert_eq!(generic_error::<AppError>().unwrap(), 3);
    assert_eq!(impl_trait_ok().unwrap().to_string(), "4");
    assert_eq!(*borrowed(&[5]).unwrap(), 5);
    assert_eq!(parameter(protector()).unwrap(), 6);
    assert_eq!(from_macro_a().unwrap() + from_macro_b().unwrap(), 14);
}
