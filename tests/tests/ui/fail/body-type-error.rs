// A body that does not type-check is reported as without the attribute, at the user's code.
#[ecs_protect::protected]
fn total(items: &[u32]) -> u32 {
    let _sum: u32 = items.iter().sum();
}

#[ecs_protect::protected]
fn name() -> String {
    "worker"
}

fn main() {}
