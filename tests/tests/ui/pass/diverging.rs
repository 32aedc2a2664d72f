#[ecs_protect::protected]
fn forever() -> ! {
    loop {
        std::thread::park();
    }
}

fn main() {
    // Compiles with `-> !` kept; never called.
    let _handler: fn() -> ! = forever;
}
