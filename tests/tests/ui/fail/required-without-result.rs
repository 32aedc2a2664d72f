#[ecs_protect::protected(required)]
fn handle() -> u32 {
    1
}

fn main() {}
