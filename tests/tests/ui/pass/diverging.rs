#[ecs_protect::protected]
fn forever() -> ! {
    panic!("a diverging handler still compiles")
}

fn main() {
    let _ = std::panic::catch_unwind(|| forever());
}
