#[ecs_protect::protected(required, required)]
fn handle() -> Result<(), ecs_protect::Error> {
    Ok(())
}

fn main() {}
