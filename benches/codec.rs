//! Frame encode/decode: what the server does once per broadcast (encode an
//! event), once per request (decode), and what a client does per delivery.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pyconchat::protocol::{
    Body, ClientFrame, Event, FrameCodec, LogEntry, Request, RequestFrame, ServerFrame, decode,
    encode,
};
use tokio_util::codec::{Decoder, Encoder};

fn message_event() -> ServerFrame {
    ServerFrame::Event(Event::Message {
        conv: "group-3".into(),
        entry: LogEntry {
            seq: 1_234_567,
            at_ms: 1_764_000_000_000,
            from: "publisher-17".into(),
            body: Body::Text {
                text: "x".repeat(64),
            },
        },
    })
}

fn send_request() -> ClientFrame {
    ClientFrame::Request(RequestFrame {
        id: 42,
        request: Request::SendMessage {
            conv: "group-3".into(),
            text: "x".repeat(64),
        },
    })
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Elements(1));
    let event = message_event();
    let event_payload = encode(&event);
    let request = send_request();
    let request_payload = encode(&request);

    group.bench_function("encode_message_event", |b| {
        b.iter(|| encode(black_box(&event)))
    });
    group.bench_function("decode_message_event", |b| {
        b.iter(|| decode::<ServerFrame>(black_box(&event_payload)).expect("decodes"))
    });
    group.bench_function("encode_send_request", |b| {
        b.iter(|| encode(black_box(&request)))
    });
    group.bench_function("decode_send_request", |b| {
        b.iter(|| decode::<ClientFrame>(black_box(&request_payload)).expect("decodes"))
    });

    // Framing alone: 256 queued frames into one write buffer, as a session
    // batches them, and back out of one read buffer.
    const FRAMES: usize = 256;
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("frame_256_into_write_buffer", |b| {
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::with_capacity(FRAMES * (event_payload.len() + 4));
        b.iter(|| {
            buf.clear();
            for _ in 0..FRAMES {
                codec.encode(event_payload.clone(), &mut buf).expect("fits");
            }
            black_box(buf.len())
        })
    });
    let mut stream = BytesMut::new();
    {
        let mut codec = FrameCodec::new(1 << 20);
        for _ in 0..FRAMES {
            codec
                .encode(event_payload.clone(), &mut stream)
                .expect("fits");
        }
    }
    group.bench_function("unframe_256_from_read_buffer", |b| {
        let mut codec = FrameCodec::new(1 << 20);
        b.iter(|| {
            let mut buf = stream.clone();
            let mut n = 0;
            while let Some(frame) = codec.decode(&mut buf).expect("valid") {
                n += frame.len();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
