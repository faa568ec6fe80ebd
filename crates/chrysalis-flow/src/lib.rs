//! Chrysalis flows.
mod analysis;
mod diagnostic;
mod graph;
mod load;
mod model;
mod rules;
mod validate;
pub use diagnostic::*;
pub use load::*;
pub use model::*;
pub use validate::*;
