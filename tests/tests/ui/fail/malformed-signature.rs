#[ecs_protect::protected]
fn handle(message: ) {}

fn main() {}
