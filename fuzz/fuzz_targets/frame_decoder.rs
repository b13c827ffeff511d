//! The frame decoder: arbitrary bytes through `FrameCodec`, split into reads
//! in different ways, and every payload decoded as a client and a server
//! frame. See `fuzz/shared/frame_decoder.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../shared/frame_decoder.rs"]
mod frame_decoder;

fuzz_target!(|data: &[u8]| frame_decoder::check(data));
