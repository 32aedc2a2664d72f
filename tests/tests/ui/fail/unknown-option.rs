#[ecs_protect::protected(require)]
fn handle() {}

fn main() {}
