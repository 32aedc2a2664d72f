#[ecs_protect::protected(protector)]
fn handle() {}

fn main() {}
