//! One module per subcommand.

pub(crate) mod agent;
pub(crate) mod demo;
pub(crate) mod flow;
pub(crate) mod hash;
pub(crate) mod keygen;
pub(crate) mod sign;
pub(crate) mod status;
pub(crate) mod up;
pub(crate) mod vault;
