use std::sync::Arc;

struct Worker {
    done: u32,
}

impl Worker {
    #[ecs_protect::protected]
    fn by_ref(&self) -> u32 {
        self.done
    }

    #[ecs_protect::protected]
    fn by_mut(&mut self) {
        self.done += 1;
    }

    #[ecs_protect::protected]
    fn by_value(self) -> u32 {
        self.done
    }

    #[ecs_protect::protected]
    fn by_arc(self: Arc<Self>) -> u32 {
        self.done
    }

    #[ecs_protect::protected]
    fn associated() -> Self {
        Worker { done: 0 }
    }
}

fn main() {
    let mut worker = Worker::associated();
    worker.by_mut();
    assert_eq!(worker.by_ref(), 1);
    assert_eq!(Arc::new(Worker { done: 2 }).by_arc(), 2);
    assert_eq!(worker.by_value(), 1);
}
