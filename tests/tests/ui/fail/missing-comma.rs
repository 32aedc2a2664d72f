#[ecs_protect::protected(required protector = ecs_protect::global())]
fn handle() -> Result<(), ecs_protect::Error> {
    Ok(())
}

fn main() {}
