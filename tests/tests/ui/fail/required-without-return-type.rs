#[ecs_protect::protected(required)]
fn handle() {}

fn main() {}
