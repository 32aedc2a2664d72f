//! An SQS consumer: each message is handled under ECS task scale-in protection and deleted
//! only once its handler returned `Ok`.
//!
//! ```text
//! cargo run --example sqs_worker                                  # a queue on the fake AWS
//! QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/111122223333/orders cargo run --example sqs_worker
//! ```
//!
//! With `QUEUE_URL` it consumes that queue with the standard AWS credentials and region,
//! until SIGTERM (or Ctrl+C). Without it, it fills a queue on the embedded fake AWS with
//! 200 orders and stops once all of them are deleted.

use std::time::{Duration, Instant};

use ecs_protect::Env;
use ecs_protect::sqs::{Consumer, Message};

const ORDERS: usize = 200;

/// Handles one message; an `Err` leaves it for redelivery.
fn handle(message: &Message) -> Result<(), std::io::Error> {
    std::thread::sleep(Duration::from_millis(20)); // stands in for charging a card
    log::debug!("charged {}", message.body());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ecs_protect_examples::init_logging();
    let fake_aws = ecs_protect_examples::fake_aws_unless_on_ecs()?;
    let shutdown = ecs_protect::Shutdown::install()?;
    let started = Instant::now();

    let consumer = match std::env::var("QUEUE_URL") {
        // Stops on SIGTERM: the default stop condition is the installed `Shutdown`.
        Ok(url) => Consumer::builder(url, handle),
        Err(_) => {
            let fake = fake_aws
                .as_ref()
                .ok_or("on ECS, set QUEUE_URL to the queue to consume")?;
            let (url, queue) = fake.create_queue("orders");
            for order in 0..ORDERS {
                queue.send(format!("order {order}"));
            }
            Consumer::builder(url, handle)
                .env(Env::from_vars(fake.env())) // the fake's credentials
                .stop_when(move || shutdown.requested() || queue.is_empty())
        }
    }
    .handlers(8)
    .build()?;
    let summary = consumer.run()?;

    let drained = ecs_protect::global().drain(Duration::from_secs(30));
    let stats = ecs_protect::global().stats();
    println!("{summary} in {:.1?}; {drained}", started.elapsed());
    println!(
        "ECS calls: {}; protected for {:.1?}",
        stats.calls(),
        stats.time_protected
    );
    Ok(())
}
