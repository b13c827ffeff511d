//! The wire protocol shared by server and client; `docs/protocol.md` is its
//! specification and `tests/wire.rs` holds the two together.

mod codec;
mod message;
mod names;

pub use codec::{DEFAULT_MAX_FRAME_BYTES, FrameCodec, FrameError, decode, encode};
pub use message::*;
pub use names::{NAME_MAX_CHARS, NameError, validate_group, validate_name};
