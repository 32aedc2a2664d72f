//! [`Shutdown`]: SIGTERM/SIGINT as a flag worker loops poll. (PLACEHOLDER)
