#![deny(dead_code)]

#[ecs_protect::protected]
fn never_called() {}

fn main() {}
