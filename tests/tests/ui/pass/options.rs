use std::sync::{Arc, OnceLock};

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

#[ecs_protect::protected(required)]
fn required() -> Result<u32, Error> {
    let parsed: u32 = "5".parse().map_err(|_| Error::ShuttingDown)?;
    Ok(parsed)
}

#[ecs_protect::protected(required)]
fn required_own_error() -> Result<(), AppError> {
    Ok(())
}

#[ecs_protect::protected(protector = protector())]
fn by_ref() {}

#[ecs_protect::protected(protector = Protector::with_backend(Disabled))]
fn by_value() {}

#[ecs_protect::protected(protector = Arc::new(protector().clone()))]
fn by_arc() {}

#[ecs_protect::protected(required, protector = protector())]
fn both() -> Result<(), Error> {
    Ok(())
}

#[ecs_protect::protected(protector = protector(), required,)]
fn both_reversed() -> Result<(), Error> {
    Ok(())
}

/// An application's state that hands out its protector.
struct AppState {
    protector: Protector,
}

impl AsRef<Protector> for AppState {
    fn as_ref(&self) -> &Protector {
        &self.protector
    }
}

#[ecs_protect::protected(protector = state)]
fn by_as_ref(state: &AppState) {}

#[ecs_protect::protected(protector = Box::new(protector().clone()))]
fn by_box() {}

struct Service {
    protector: Protector,
}

impl Service {
    #[ecs_protect::protected(protector = self.protector)]
    fn handle(&self) {}
}

fn main() {
    assert_eq!(required().unwrap(), 5);
    required_own_error().unwrap();
    by_ref();
    by_value();
    by_arc();
    by_as_ref(&AppState { protector: protector().clone() });
    by_box();
    both().unwrap();
    both_reversed().unwrap();
    Service { protector: protector().clone() }.handle();
}
