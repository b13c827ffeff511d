//! The wire protocol shared by server and client; `docs/protocol.md` is its
//! specification and `tests/wire.rs` holds the two together.

mod codec;
mod compact;
mod file_name;
mod invisible;
mod mentions;
mod message;
mod names;

pub use codec::{DEFAULT_MAX_FRAME_BYTES, FrameCodec, FrameError, decode, encode};
pub use compact::{
    COMPACT_MESSAGE, COMPACT_SENT, decode_server_frame, encode_compact_message,
    encode_compact_sent, is_compact,
};
pub use file_name::{FILE_NAME_MAX_BYTES, clean_file_name};
pub use invisible::{is_invisible, reveal};
pub use mentions::{mention_spans, mentions};
pub use message::*;
pub use names::{NAME_MAX_CHARS, NameError, validate_group, validate_name};
