#[ecs_protect::protected]
async fn handle() {}

fn main() {}
