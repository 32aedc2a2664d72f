// A user module and user types with the names the expansion uses must change nothing:
// the expansion's paths are absolute and its locals are mixed-site.
#[allow(dead_code)]
mod ecs_protect {}

#[allow(dead_code)]
struct Guard;
#[allow(dead_code)]
struct Protector;
#[allow(dead_code)]
type Result<T> = std::result::Result<T, ()>;
#[allow(dead_code)]
enum Option {}

#[::ecs_protect::protected(required)]
fn handle(guard: u32) -> std::result::Result<u32, ::ecs_protect::Error> {
    let __ecs_protect_guard = guard + 1; // the user's own local of the same name
    Ok(__ecs_protect_guard)
}

fn main() {
    assert_eq!(handle(1).unwrap(), 2);
}
