trait Handler {
    #[ecs_protect::protected]
    fn handle(&self);
}

fn main() {}
