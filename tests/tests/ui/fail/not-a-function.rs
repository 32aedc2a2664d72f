#[ecs_protect::protected]
struct Handler;

fn main() {}
