#[ecs_protect::protected]
fn handle() {
    drop(__ecs_protect_guard);
}

fn main() {}
