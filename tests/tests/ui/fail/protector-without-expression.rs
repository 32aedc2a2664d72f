#[ecs_protect::protected(protector = , required)]
fn handle() -> Result<(), ecs_protect::Error> {
    Ok(())
}

fn main() {}
