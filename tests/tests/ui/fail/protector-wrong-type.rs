#[ecs_protect::protected(protector = "default")]
fn handle() {}

fn main() {}
