//! Evidence (README "The evidence packet"): the packet a release manager
//! approves ([`packet`]), its HTML page ([`page`]), the steward's job
//! that turns a candidate profile into a stored packet ([`steward`]),
//! the outcome report of a live window that renewals and promotions bind
//! ([`outcome`]), and the comparison page of a sweep ([`sweep`]).
//!
//! Architecture invariant: a packet is a pure function of its inputs (history
//! bytes, both revisions, settings): byte-identical on any machine and any
//! thread count, with no wall-clock time inside it.

pub mod outcome;
pub mod packet;
pub mod page;
pub mod steward;
pub mod sweep;
pub mod uncertainty;

pub use packet::*;
pub use page::render_html;
