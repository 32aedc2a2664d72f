//! The ECS agent's local task-protection endpoint (`$ECS_AGENT_URI/task-protection/v1/state`).
//! (PLACEHOLDER)
