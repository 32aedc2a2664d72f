#[ecs_protect::protected]
const fn handle() -> u32 {
    1
}

fn main() {}
