//! A program that takes protection from the default protector on its main thread and
//! returns from `main` while protection lingers. `tests/exit_release.rs` runs it and checks
//! that protection was released on the way out.

use std::time::Duration;

use ecs_protect::{Backend, Config, Error, Protection, ProtectionState, Protector};

/// Prints each change it is asked for, so the parent test sees it after the process ends.
#[derive(Debug)]
struct Printing;

impl Backend for Printing {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let enabled = matches!(change, Protection::On { .. });
        println!(
            "{}",
            if enabled {
                "protection on"
            } else {
                "protection off"
            }
        );
        Ok(ProtectionState {
            enabled,
            expires_at: None,
        })
    }
}

fn main() -> Result<(), Error> {
    let config = Config::builder().linger(Duration::from_secs(600)).build()?;
    if ecs_protect::set_global(Protector::with_config(config, Printing)).is_err() {
        return Err(Error::config(
            "set_global",
            "the default protector already existed",
        ));
    }
    let guard = ecs_protect::global().acquire()?;
    println!("working");
    drop(guard);
    println!("returning from main");
    Ok(())
}
