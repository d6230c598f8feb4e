//! Decode and encode throughput for the three shapes that dominate ACS traffic: an Inform
//! (every session), a 3,343-entry GetParameterNamesResponse (a full tree walk) and a
//! 200-value GetParameterValuesResponse (a typical refresh). Goal: Inform decode
//! >= 200 MB/s on one core.
// The crate itself does no I/O (clippy.toml); this file reads ../shared/.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cwmp::{
    Body, Decoded, EncodeOptions, Envelope, GetParameterValuesResponse, Header, Namespace,
    ParameterValueStruct, Value, XsdDateTime,
};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cwmp/corpus/");

fn corpus(file: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A GetParameterValuesResponse of 200 values of mixed types, as a CPE would send it.
fn gpv_200() -> Vec<u8> {
    let parameter_list = (0..200)
        .map(|i| {
            let name = format!("InternetGatewayDevice.LANDevice.1.Hosts.Host.{i}.");
            match i % 5 {
                0 => ParameterValueStruct::new(
                    format!("{name}HostName"),
                    Value::string(format!("host-{i} <lan>")),
                ),
                1 => ParameterValueStruct::new(format!("{name}Active"), Value::boolean(i % 2 == 0)),
                2 => ParameterValueStruct::new(
                    format!("{name}LeaseTimeRemaining"),
                    Value::int(i * 60),
                ),
                3 => ParameterValueStruct::new(
                    format!("{name}BytesSent"),
                    Value::unsigned_long(1 << 40),
                ),
                _ => ParameterValueStruct::new(
                    format!("{name}LastChange"),
                    Value::date_time(XsdDateTime::parse("2024-05-01T12:00:00Z")),
                ),
            }
        })
        .collect();
    let env = Envelope {
        namespace: Namespace::Cwmp10,
        header: Header::with_id("42"),
        body: Body::GetParameterValuesResponse(GetParameterValuesResponse { parameter_list }),
    };
    env.encode(&EncodeOptions::default())
}

fn decode_envelope(bytes: &[u8]) -> Envelope {
    match cwmp::decode(bytes, Some("text/xml; charset=utf-8")) {
        Ok(Decoded::Envelope(e)) => e,
        other => panic!("{other:?}"),
    }
}

fn codec(c: &mut Criterion) {
    let inputs = [
        ("inform", corpus("zyxel_p-2601hn-f1_inform.xml")),
        (
            "gpn_3343",
            corpus("thomson_speedtouch780_getparameternamesresponse-huge.xml"),
        ),
        ("gpv_200", gpv_200()),
    ];
    let options = EncodeOptions::default();
    for (name, bytes) in &inputs {
        let mut group = c.benchmark_group(*name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("decode", |b| {
            b.iter(|| cwmp::decode(black_box(bytes), Some("text/xml")))
        });
        let envelope = decode_envelope(bytes);
        // Encode throughput is measured against the size of what is written.
        let encoded_len = envelope.encode(&options).len();
        group.throughput(Throughput::Bytes(encoded_len as u64));
        group.bench_function("encode", |b| {
            b.iter(|| black_box(&envelope).encode(&options))
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
