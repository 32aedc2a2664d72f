//! The fake AWS the examples use when they are not running on ECS.

use ecs_protect::Error;
use ecs_protect::mock::MockAws;

/// Whether this process runs on ECS: `ECS_CONTAINER_METADATA_URI_V4` is set (ECS sets it in
/// every task, and the `deployment` example sets it for the workers it starts).
pub fn on_ecs() -> bool {
    std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_some()
}

/// On ECS: `None`, and the default protector reads the real environment, unchanged.
/// Elsewhere: starts the embedded fake AWS and makes a protector on it the default one
/// ([`ecs_protect::global`]); keep the fake alive while it is used.
///
/// # Errors
///
/// When the fake cannot start, or the default protector was already built.
pub fn fake_aws_unless_on_ecs() -> Result<Option<MockAws>, Error> {
    if on_ecs() {
        return Ok(None);
    }
    let fake = MockAws::start()?;
    if ecs_protect::set_global(fake.protector()?).is_err() {
        return Err(Error::config(
            "ecs_protect::set_global",
            "the default protector was already built; start the fake first",
        ));
    }
    log::info!(
        "not on ECS: protection calls go to the fake AWS at {}",
        fake.url()
    );
    Ok(Some(fake))
}
