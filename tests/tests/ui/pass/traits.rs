trait Handler {
    fn handle(&self, message: &str) -> usize;

    #[ecs_protect::protected]
    fn handle_twice(&self, message: &str) -> usize {
        self.handle(message) * 2
    }
}

struct Length;

impl Handler for Length {
    #[ecs_protect::protected]
    fn handle(&self, message: &str) -> usize {
        message.len()
    }
}

fn main() {
    assert_eq!(Length.handle_twice("abc"), 6);
}
