#[ecs_protect::protected(required = true)]
fn handle() -> Result<(), ecs_protect::Error> {
    Ok(())
}

fn main() {}
