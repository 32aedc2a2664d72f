struct Worker;

#[ecs_protect::protected]
impl Worker {
    fn handle(&self) {}
}

fn main() {
    Worker.handle();
}
