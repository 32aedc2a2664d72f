// The body keeps its own scope: its items and `use` declarations change neither the
// expansion nor what the `protector = ...` expression names (tracing #3306).
use std::sync::OnceLock;

use ecs_protect::{Disabled, Protector};

type Answer = u32;

#[allow(dead_code)]
enum Shadow {
    Answer,
    Ok,
    Err,
    Some,
    None,
}

fn protector() -> &'static Protector {
    static PROTECTOR: OnceLock<Protector> = OnceLock::new();
    PROTECTOR.get_or_init(|| Protector::with_backend(Disabled))
}

#[ecs_protect::protected(required, protector = protector())]
fn glob_import() -> Result<Answer, ecs_protect::Error> {
    // Shadows `Answer`, `Ok`, `Err`, `Some` and `None` for the rest of the body.
    #[allow(unused_imports)]
    use Shadow::*;
    // A body-local item named like the protector function: the attribute still means the
    // outer one.
    #[allow(dead_code)]
    fn protector() -> u8 {
        0
    }
    std::result::Result::Ok(42)
}

fn main() {
    assert_eq!(glob_import().unwrap(), 42);
}
