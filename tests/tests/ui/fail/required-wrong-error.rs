#[ecs_protect::protected(required)]
fn handle() -> Result<(), String> {
    Ok(())
}

fn main() {}
